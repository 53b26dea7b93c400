"""Static files served by the site itself: WhiteNoise, made to answer without a thread under ASGI.

With DEBUG off, `collectstatic` writes every file under a name holding its content's hash, plus
gzip copies (`CompressedManifestStaticFilesStorage`); WhiteNoise serves those with a year-long
`Cache-Control: immutable`, and the compressed copy to a client that accepts it, so the proxy in
front needs no `/static/` rule. WhiteNoise's own middleware is sync only: in the ASGI app it would
push every request through a thread and hand Django a file it can only read whole, with a
warning. This one finds the file, then streams it in blocks read off the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import IO, Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware

BLOCK_SIZE = 64 * 1024


async def _blocks(file: IO[bytes]) -> AsyncIterator[bytes]:
    read = sync_to_async(file.read, thread_sensitive=False)
    while block := await read(BLOCK_SIZE):
        yield block


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise for both handlers: sync under WSGI and the test client, async under ASGI."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any], **kwargs: Any) -> None:
        super().__init__(get_response, **kwargs)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:  # DEBUG: looks at the disk on each request
            static_file = await sync_to_async(self.find_file, thread_sensitive=False)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is None:
            return await self.get_response(request)
        response = await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        file = getattr(response, "file_to_stream", None)
        if file is not None:  # None for HEAD and 304; the response already closes the file
            response.streaming_content = _blocks(file)
        return response
