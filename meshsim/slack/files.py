"""The three steps of `WebClient.files_upload_v2`: get an upload URL, POST the bytes, complete.

`files.upload` is retired for new apps (closed 2024-05-16), so only the v2 flow exists here.
Completing with `channel_id` (and `thread_ts`) shares the files as one bot message, the way
Slack shows a file share; Slack does this asynchronously, the simulator at once.
"""

from __future__ import annotations

import mimetypes

from aiohttp import web

from meshsim.slack import seed
from meshsim.slack.methods import ChatMethods
from meshsim.slack.webapi import JSON, ApiCall, ApiError, WebApi
from meshsim.slack.workspace import Workspace, WorkspaceError

UPLOAD_PATH = "/upload/v1/{file_id}"
# Not Slack's: the channel page shows an uploaded image from here (Slack's url_private needs a
# token and is on files.slack.com).
CONTENT_PATH = "/_sim/files/{file_id}"
# files.getUploadURLExternal: "Description for the image is longer than the limit of 1000
# character" (alt_txt_too_large).
ALT_TXT_LIMIT = 1000


class FileMethods:
    def __init__(self, workspace: Workspace, chat: ChatMethods) -> None:
        self.ws = workspace
        self.chat = chat

    def register(self, api: WebApi, app: web.Application) -> None:
        api.register("files.getUploadURLExternal", self.upload_url)
        api.register("files.completeUploadExternal", self.complete)
        app.router.add_post(UPLOAD_PATH, self.receive)
        app.router.add_get(CONTENT_PATH, self.content)

    async def upload_url(self, call: ApiCall) -> JSON:
        filename = call.need("filename")
        length = call.need("length")
        if not length.isdigit():
            raise ApiError("invalid_arguments", detail="length must be an integer")
        alt_txt = call.get("alt_txt") or ""
        if len(alt_txt) > ALT_TXT_LIMIT:
            raise ApiError("alt_txt_too_large")
        file_id = self.ws.new_upload(filename, int(length))
        with self.ws.lock:
            self.ws.uploads[file_id]["alt_txt"] = alt_txt
        return {"upload_url": call.origin + UPLOAD_PATH.format(file_id=file_id),
                "file_id": file_id}

    async def receive(self, request: web.Request) -> web.Response:
        data = await request.read()
        with self.ws.lock:
            upload = self.ws.uploads.get(request.match_info["file_id"])
            if upload is None:
                return web.Response(status=404, text="file_not_found")
            upload["content"] = data
        return web.Response(text=f"OK - {len(data)}")

    async def content(self, request: web.Request) -> web.Response:
        with self.ws.lock:
            upload = self.ws.uploads.get(request.match_info["file_id"])
            if upload is None or upload["content"] is None:
                return web.Response(status=404, text="file_not_found")
            name, data = str(upload["name"]), bytes(upload["content"])
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        # An upload never changes: the page re-renders on every poll without fetching it again.
        return web.Response(body=data, content_type=mimetype,
                            headers={"Cache-Control": "max-age=3600, immutable"})

    async def complete(self, call: ApiCall) -> JSON:
        wanted = call.json_field("files", "invalid_arguments")
        if not isinstance(wanted, list) or not wanted:
            raise ApiError("invalid_arguments", detail="files must be a non-empty array")
        files = [self._file(item) for item in wanted]
        if call.get("channel_id") or call.get("channels"):
            self._share(call, files)
        return {"files": files}

    def _file(self, item: JSON) -> JSON:
        with self.ws.lock:
            upload = self.ws.uploads.get(str(item.get("id")))
            if upload is None or upload["content"] is None:
                raise ApiError("file_not_found")
            name = str(upload["name"])
            upload["title"] = str(item.get("title") or name)
            return _file_object(upload, self.ws.clock.now())

    def _share(self, call: ApiCall, files: list[JSON]) -> None:
        key = "channel_id" if call.get("channel_id") else "channels"
        channel = self.chat.channel(call, key)
        try:
            message = self.ws.post(channel.id, seed.BOT_USER_ID, call.get("initial_comment") or "",
                                   [], call.get("thread_ts"), files)
        except WorkspaceError as exc:
            raise ApiError(exc.code) from exc
        share: JSON = {"ts": message.ts, "channel_name": channel.name}
        if message.thread_ts:
            share["thread_ts"] = message.thread_ts
        for item in files:
            item["shares"] = {"public": {channel.id: [share]}}
            item["channels"] = [channel.id]


def _file_object(upload: JSON, now: float) -> JSON:
    name = str(upload["name"])
    mimetype = mimetypes.guess_type(name)[0] or "text/plain"
    file_id = upload["id"]
    return {
        "id": file_id, "name": name, "title": upload["title"], "mimetype": mimetype,
        "filetype": name.rsplit(".", 1)[-1] if "." in name else "text",
        "size": len(upload["content"]), "user": seed.BOT_USER_ID, "created": int(now),
        "timestamp": int(now), "is_external": False, "shares": {}, "channels": [],
        "url_private": f"https://files.slack.com/files-pri/{seed.TEAM_ID}-{file_id}/{name}",
        "permalink": f"https://{seed.TEAM_DOMAIN}.slack.com/files/{seed.BOT_USER_ID}/{file_id}",
        "preview": bytes(upload["content"][:200]).decode("utf-8", "replace"),
        **({"alt_txt": upload["alt_txt"]} if upload.get("alt_txt") else {}),
    }
