"""Thin gRPC servicers: convert the request, call recsys/tuner, convert the answer back.

Each module exposes ``install(server, context) -> service full name``, listed in
``server.app.SERVICE_INSTALLERS``.
"""
