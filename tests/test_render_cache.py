"""One render per key, shared by concurrent requests and owned by none of them."""

from __future__ import annotations

import anyio
import pytest

from wan26.mockserver.media.cache import RenderCache

pytestmark = pytest.mark.anyio


class SlowRender:
    """A render that waits for `release`, and counts how often it started and finished."""

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.started = 0
        self.finished = 0

    async def __call__(self) -> bytes:
        self.started += 1
        await self.release.wait()
        self.finished += 1
        return b"video"


async def cancel_when_blocked(scope: anyio.CancelScope) -> None:
    """Cancel `scope` once every other task waits (no timing involved)."""
    await anyio.wait_all_tasks_blocked()
    scope.cancel()


async def test_the_starters_cancellation_waits_for_the_render_others_share() -> None:
    cache, render = RenderCache(1024), SlowRender()
    answers: list[bytes] = []
    starter_left = anyio.Event()

    async def starter(scope: anyio.CancelScope) -> None:
        with scope:
            await cache.get_or_render("k", render)
        starter_left.set()

    async def waiter() -> None:
        answers.append(await cache.get_or_render("k", render))

    async with anyio.create_task_group() as group:
        scope = anyio.CancelScope()
        group.start_soon(starter, scope)
        await anyio.wait_all_tasks_blocked()
        group.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        scope.cancel()
        await anyio.wait_all_tasks_blocked()
        assert not starter_left.is_set()  # it hosts the render the waiter still wants
        render.release.set()
    assert answers == [b"video"] and starter_left.is_set()
    assert (render.started, render.finished, cache.misses, cache.hits) == (1, 1, 1, 1)
    assert cache.peek("k") == b"video"


async def test_a_cancelled_waiter_leaves_the_render_to_the_others() -> None:
    cache, render = RenderCache(1024), SlowRender()
    answers: list[bytes] = []

    async def request() -> None:
        answers.append(await cache.get_or_render("k", render))

    async with anyio.create_task_group() as group:
        group.start_soon(request)
        await anyio.wait_all_tasks_blocked()
        with anyio.CancelScope() as scope:
            group.start_soon(cancel_when_blocked, scope)
            await cache.get_or_render("k", render)
        render.release.set()
    assert answers == [b"video"]
    assert (render.started, render.finished) == (1, 1)


async def test_a_render_no_one_waits_for_is_cancelled_and_the_next_request_renders_anew() -> None:
    cache, render = RenderCache(1024), SlowRender()
    async with anyio.create_task_group() as group:
        with anyio.CancelScope() as scope:
            group.start_soon(cancel_when_blocked, scope)
            await cache.get_or_render("k", render)
    assert (render.started, render.finished) == (1, 0)
    render.release.set()
    assert await cache.get_or_render("k", render) == b"video"
    assert (render.started, render.finished, cache.misses) == (2, 1, 2)


async def test_every_waiter_gets_the_renders_error_as_it_is() -> None:
    cache = RenderCache(1024)
    release = anyio.Event()
    errors: list[BaseException] = []

    async def broken() -> bytes:
        await release.wait()
        raise ValueError("corrupt image")

    async def request() -> None:
        try:
            await cache.get_or_render("k", broken)
        except ValueError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(request)
        group.start_soon(request)
        await anyio.wait_all_tasks_blocked()
        release.set()
    assert [str(error) for error in errors] == ["corrupt image"] * 2
    assert cache.peek("k") is None
