"""A researcher's reference library: ``POST /users/{user_id}/library``.

The file (BibTeX, RIS, CSL-JSON, Zotero CSV, a list of arXiv ids or DOIs) comes as the request
body or as the field ``file`` of a multipart upload, within the API's body limit
(``PAPERREC_MAX_BODY_BYTES``, 413 beyond). It is read and matched whole before anything is
stored (:mod:`service.library`): a file that cannot be read is 422 with the reason and stores
nothing. New papers are recommendable at once and the likes count in the user's very next
recommendations; no retrain is needed. Importing the same file again changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from recommender.io.library import LibraryFormat, parse_library
from recommender.io.lines import LoaderError
from service.collections import NAME_PATTERN
from service.deps import AuthorizedUser, ModelsDep, StoreDep
from service.library import import_library
from service.schemas import ErrorPublic, LibraryImportPublic

router = APIRouter(prefix="/users", tags=["library"])

#: Content types that name a library format (used when ``format`` is ``auto``).
_CONTENT_TYPES: dict[str, LibraryFormat] = {
    "application/x-bibtex": "bibtex",
    "text/x-bibtex": "bibtex",
    "application/x-research-info-systems": "ris",
    "application/vnd.citationstyles.csl+json": "csl-json",
    "text/csv": "zotero-csv",
}

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The library file: as the body, or as the field `file` of a multipart "
        "upload.",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


def _unreadable(why: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, why)


async def _file(request: Request, filename: str | None) -> tuple[bytes, str]:
    """The uploaded file's bytes and name."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        # A malformed multipart body is 400 (Starlette's parser says so); one over the body
        # limit 413 (the BodyLimit middleware).
        form = await request.form(max_files=1, max_fields=10)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise _unreadable("a multipart upload carries the library in a field named 'file'")
        return await upload.read(), upload.filename or filename or "upload"
    return await request.body(), filename or "body"


@router.post(
    "/{user_id}/library",
    response_model=LibraryImportPublic,
    openapi_extra=_BODY,
    responses={
        400: {"model": ErrorPublic, "description": "A multipart body that cannot be parsed."},
        401: {"model": ErrorPublic, "description": "Missing or unknown token."},
        403: {"model": ErrorPublic, "description": "The token belongs to another user."},
        404: {"model": ErrorPublic, "description": "No such collection of the user."},
        413: {"model": ErrorPublic, "description": "Request body too large."},
        422: {"model": ErrorPublic, "description": "A file that cannot be read, and why."},
    },
)
async def import_library_file(
    request: Request,
    user_id: AuthorizedUser,
    store: StoreDep,
    models: ModelsDep,
    format: Annotated[
        Literal["auto", "bibtex", "ris", "csl-json", "zotero-csv", "ids"],
        Query(description="The file's format; auto: from its name, content type or text."),
    ] = "auto",
    as_: Annotated[
        Literal["like", "dislike"],
        Query(alias="as", description="What the papers become for the user."),
    ] = "like",
    dry_run: Annotated[bool, Query(description="Report what would happen; store nothing.")] = False,
    filename: Annotated[
        str | None,
        Query(max_length=255, description="The file's name (its suffix tells the format)."),
    ] = None,
    collection: Annotated[
        str | None,
        Query(
            pattern=NAME_PATTERN,
            description="Also put the likes in this collection of the user (it must exist).",
        ),
    ] = None,
) -> LibraryImportPublic:
    """Make every paper of a reference library the user's likes (or dislikes): entries matched
    against the catalog by arXiv id, DOI, then title; others added as new papers from their own
    title and abstract; unusable ones skipped, each with its line or key and the reason."""
    data, name = await _file(request, filename)
    if not data.strip():
        raise _unreadable(
            "empty body: send the library file as the body or as the multipart field 'file'"
        )
    fmt: LibraryFormat = format
    if fmt == "auto":
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        fmt = _CONTENT_TYPES.get(media, "auto")
    try:
        library = await run_in_threadpool(parse_library, data, name, fmt)
    except LoaderError as e:
        raise _unreadable(f"{e}; nothing was imported") from None
    if collection is not None and as_ != "like":
        raise _unreadable("collection: only likes go in a collection, not as=dislike")
    try:
        report = await run_in_threadpool(
            import_library,
            store,
            library,
            user_id,
            kind="likes" if as_ == "like" else "dislikes",
            dry_run=dry_run,
            source="api-library",
            add_papers=models.add_papers,
            collection=collection,
        )
    except KeyError:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"user {user_id!r} has no collection {collection!r}: create it with "
            f"PUT /users/{user_id}/collections/{collection}; nothing was imported",
        ) from None
    return LibraryImportPublic(**report.to_dict())
