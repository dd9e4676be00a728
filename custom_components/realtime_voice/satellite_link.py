"""Keeps Home Assistant's link to one satellite up: connect, reconnect with backoff, fan events out.

Entities follow ``available``; the conversation engine receives every link event through one handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from .core.backoff import backoff_delays
from .core.conversation.ports import SatelliteOfflineError
from .core.link import (
    LinkAuthError,
    LinkConnectionError,
    LinkError,
    LinkEvent,
    SatelliteLinkClient,
    protocol,
)
from .core.link.log_limit import RateLimitedLog

_LOGGER = logging.getLogger(__name__)

EventHandler = Callable[[LinkEvent], Awaitable[None]]


# How long an update may take from HA's command to the new version's hello: pip may download new
# dependencies on a Pi (the satellite gives pip 15 minutes, updater.INSTALL_TIMEOUT_S).
UPDATE_TIMEOUT_S = 20 * 60


class SatelliteUpdateError(Exception):
    """The satellite did not update; the text says why (the running version goes on)."""


class SatelliteConnection:
    """One satellite's link, owned by its config entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        host: str,
        port: int,
        access_key: str,
        name: str,
        on_auth_failed: Callable[[], None],
        settings: Callable[[], dict[str, object]],
    ) -> None:
        self.hass = hass
        self.host = host
        self.port = port
        self.name = name
        self._access_key = access_key
        # Called once when the satellite starts refusing the key (HA starts re-authentication);
        # the link goes on retrying quietly, in case the satellite gets its old key back.
        self._on_auth_failed = on_auth_failed
        self._key_refused = False
        # What HA keeps for the satellite (wake words, sensitivity, follow-up): applied on every
        # connect, so that a satellite that restarted gets it back.
        self._settings = settings
        self._client: SatelliteLinkClient | None = None
        self._handler: EventHandler | None = None
        self._availability_listeners: list[Callable[[], None]] = []
        self._info_listeners: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._connecting = False  # a reconnect attempt is under way (TLS handshake, hello, auth)
        self._closing = False
        self.info: protocol.Info | None = None
        self._handler_errors: set[str] = set()
        self._handler_log = RateLimitedLog(_LOGGER, 60.0)
        # the link dropping and coming back, as the satellite (the peer) makes it: a few lines
        # a minute at most
        self._link_log = RateLimitedLog(_LOGGER, 60.0, burst=4)
        self.reconnects = 0
        self.last_error: str | None = None
        # HA's mute switch and volume (None: HA has none yet, the satellite's own stands), applied
        # on every connect like the settings: a satellite back from a power cut starts unmuted.
        self.wanted_muted: bool | None = None
        self.wanted_volume: float | None = None
        # An update under way (install_update): the version asked for, the satellite's last report
        # of it, and what install_update waits on.
        self.update_progress: protocol.UpdateProgress | None = None
        self._update_wanted: str | None = None
        self._update_done: asyncio.Future[None] | None = None

    def __repr__(self) -> str:  # the access key never shows
        return f"SatelliteConnection({self.name!r}, {self.host}:{self.port})"

    @property
    def available(self) -> bool:
        return self._client is not None and self._client.connected

    @property
    def version(self) -> str | None:
        """The satellite's software version, as it reported it when it last connected (its hello
        and info say it; an update brings a new one with the reconnect)."""
        return None if self.info is None else self.info.version

    def set_event_handler(self, handler: EventHandler) -> None:
        self._handler = handler

    @callback
    def async_add_availability_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        self._availability_listeners.append(listener)
        return lambda: self._availability_listeners.remove(listener)

    @callback
    def async_add_info_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        self._info_listeners.append(listener)
        return lambda: self._info_listeners.remove(listener)

    async def async_connect_first(self) -> protocol.Info:
        """Connect once (for setup: raises LinkAuthError / LinkConnectionError), then keep it up."""
        client = SatelliteLinkClient(self.host, self.port, self._access_key)
        try:
            self.info = await client.connect()
            await self._apply_settings(client)
        except BaseException:
            await client.close()
            raise
        self._client = client
        self._task = self.hass.async_create_background_task(
            self._run(client), f"realtime_voice link {self.name}"
        )
        return self.info

    async def async_close(self) -> None:
        """Close the link with a close frame, so that the satellite sees Home Assistant leave
        rather than a dropped connection. A reconnect attempt under way is let finish (what it
        opened is then closed the same way) rather than cut in the middle of its handshake."""
        self._closing = True
        self._update_finished(SatelliteOfflineError(f"Satellite {self.name}: link closed"))
        if self._task is not None:
            if not self._connecting:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _run(self, client: SatelliteLinkClient) -> None:
        """Read events; on a drop, reconnect with backoff and jitter until it comes back.

        Never ends but by cancellation: whatever is raised (a drop, anything a peer on the
        satellite's address sends, an error in the event handler) is logged once and the link
        reconnected."""
        while True:
            self._check_update_version()
            self._notify(self._availability_listeners)
            self._notify(self._info_listeners)
            try:
                await self._pump(client)
            except LinkConnectionError as err:
                self.last_error = str(err)
                self._link_log.log("lost", "Link to satellite %s lost: %s", self.name, err)
            except Exception as err:  # the keeper must outlive any error
                self.last_error = f"{type(err).__name__}: {err}"
                self._link_log.log(
                    "failed", "Link to satellite %s failed: %s", self.name, self.last_error
                )
            with contextlib.suppress(Exception):
                await client.close()
            self._client = None
            self._notify(self._availability_listeners)
            await self._dispatch_disconnect()
            reconnected = await self._reconnect()
            if reconnected is None:  # closing
                return
            client = reconnected

    async def _pump(self, client: SatelliteLinkClient) -> None:
        async for event in client.events():
            if isinstance(event, protocol.Info):
                self.info = event
                self._notify(self._info_listeners)
            elif isinstance(event, protocol.UpdateProgress | protocol.Error):
                self._on_update_event(event)
            if self._handler is not None:
                try:
                    await self._handler(event)
                except Exception as err:
                    self._handler_failed(event, err)

    def _handler_failed(self, event: LinkEvent, err: Exception) -> None:
        """A bug met on every audio frame must not flood the log: the first error of a kind with
        its traceback, the repeats rate-limited without."""
        name = type(event).__name__  # not the event: an Audio frame's repr is its bytes
        kind = f"{name}:{type(err).__name__}"
        if kind not in self._handler_errors:
            self._handler_errors.add(kind)
            _LOGGER.exception("Error handling %s from satellite %s", name, self.name)
        else:
            self._handler_log.log(
                kind, "Error handling %s from satellite %s again: %r", name, self.name, err
            )

    async def _reconnect(self) -> SatelliteLinkClient | None:
        """The link back (None: it is being closed)."""
        for delay in backoff_delays():
            if self._closing:
                return None
            await asyncio.sleep(delay)
            client = SatelliteLinkClient(self.host, self.port, self._access_key)
            self._connecting = True
            try:
                self.info = await client.connect()
                await self._apply_settings(client)
                if self._closing:
                    await client.close()
                    return None
            except LinkAuthError as err:
                await client.close()
                self.last_error = f"refused the access key: {err}"
                if self._key_refused:
                    _LOGGER.debug("Satellite %s still refuses the access key", self.name)
                else:
                    self._key_refused = True
                    self._link_log.log(
                        "refused",
                        "Satellite %s refused the access key (%s); re-authentication started",
                        self.name,
                        err,
                        level=logging.ERROR,
                    )
                    self._on_auth_failed()
            except LinkConnectionError as err:
                await client.close()
                self.last_error = str(err)
                _LOGGER.debug("Satellite %s still unreachable: %s", self.name, err)
            except Exception as err:  # whatever it is, try again after the backoff
                with contextlib.suppress(Exception):
                    await client.close()
                error = f"{type(err).__name__}: {err}"
                if error != self.last_error:  # once, not on every retry
                    self._link_log.log(
                        "reconnect", "Reconnecting to satellite %s failed: %s", self.name, error
                    )
                self.last_error = error
            else:
                self._key_refused = False
                self.reconnects += 1
                self._client = client
                self._link_log.log(
                    "back", "Link to satellite %s is back", self.name, level=logging.INFO
                )
                return client
            finally:
                self._connecting = False
        raise AssertionError("backoff_delays is endless")

    async def _apply_settings(self, client: SatelliteLinkClient) -> None:
        if settings := self._settings():
            await client.configure(**settings)  # type: ignore[arg-type]
        if self.wanted_muted is not None:
            await client.set_mute(self.wanted_muted)
        if self.wanted_volume is not None:
            await client.set_volume(self.wanted_volume)

    async def async_restore_outputs(self, *, muted: bool | None, volume: float | None) -> None:
        """HA's mute and volume as they were before HA restarted (or the entry reloaded): kept for
        every connect, and sent now where the connected satellite differs. Values HA already has
        (set since) win."""
        if self.wanted_muted is None and muted is not None:
            self.wanted_muted = muted
        if self.wanted_volume is None and volume is not None:
            self.wanted_volume = volume
        info = self.info
        if not self.available or info is None:
            return  # the next connect applies them
        with contextlib.suppress(SatelliteOfflineError, LinkError):
            if self.wanted_muted is not None and info.muted != self.wanted_muted:
                await self.set_mute(self.wanted_muted)
            if self.wanted_volume is not None and info.volume != self.wanted_volume:
                await self.set_volume(self.wanted_volume)

    async def _dispatch_disconnect(self) -> None:
        if self._handler is None:
            return
        try:
            await self._handler(protocol.ListenEnd(reason="disconnected"))
        except Exception as err:  # e.g. the Realtime session reconnecting itself
            self._link_log.log(
                "disconnect",
                "Satellite %s: handling the disconnect failed: %s: %s",
                self.name,
                type(err).__name__,
                err,
            )

    # Updating the satellite (update.py): the command, its progress, and the new version's return.

    async def install_update(self, version: str) -> None:
        """Have the satellite install release ``version`` and restart; returns when it is back
        with that version. Raises SatelliteOfflineError (offline, or the link closed meanwhile)
        or SatelliteUpdateError (the satellite's reason, or a timeout); either way the running
        version goes on."""
        if self._update_done is not None:
            raise SatelliteUpdateError(f"an update to {self._update_wanted} is already under way")
        self._update_done = asyncio.get_running_loop().create_future()
        self._update_wanted = version
        self.update_progress = protocol.UpdateProgress(version, "installing")
        self._notify(self._info_listeners)
        try:
            await self._command(lambda client: client.update(version))
            async with asyncio.timeout(UPDATE_TIMEOUT_S):
                await self._update_done
        except TimeoutError:
            raise SatelliteUpdateError(
                f"the satellite was not back with version {version} within "
                f"{UPDATE_TIMEOUT_S // 60} minutes"
            ) from None
        finally:
            self._update_done = None
            self._update_wanted = None
            self.update_progress = None
            self._notify(self._info_listeners)

    def _on_update_event(self, event: protocol.UpdateProgress | protocol.Error) -> None:
        wanted = self._update_wanted
        if wanted is None:
            return
        if isinstance(event, protocol.Error):
            # A satellite of a release before updates over the link does not know the command.
            if event.code == "bad_command" and "'update'" in event.message:
                self._update_finished(
                    SatelliteUpdateError(
                        f"the satellite's version {self.version} cannot update itself; update it "
                        f"on the Pi: pip install realtime-voice-satellite=={wanted} in its "
                        "environment, then restart it"
                    )
                )
            return
        if event.version != wanted:
            return
        self.update_progress = event
        if event.stage == "failed":
            self._update_finished(SatelliteUpdateError(event.error or "failed"))
        self._notify(self._info_listeners)

    def _check_update_version(self) -> None:
        """The link is (back) up: done if the satellite now runs the version asked for; failed if
        it restarted for it but came back with another."""
        wanted, progress = self._update_wanted, self.update_progress
        if wanted is None or self.info is None:
            return
        if self.info.version == wanted:
            self._update_finished(None)
        elif progress is not None and progress.stage == "restarting":
            self._update_finished(
                SatelliteUpdateError(
                    f"the satellite restarted with version {self.info.version}, not {wanted}"
                )
            )

    def _update_finished(self, error: Exception | None) -> None:
        done = self._update_done
        if done is None or done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    @staticmethod
    def _notify(listeners: list[Callable[[], None]]) -> None:
        for listener in list(listeners):
            listener()

    def _require(self) -> SatelliteLinkClient:
        if self._client is None or not self._client.connected:
            raise SatelliteOfflineError(f"Satellite {self.name} is offline")
        return self._client

    async def _command(self, send: Callable[[SatelliteLinkClient], Awaitable[None]]) -> None:
        """Send one command; a link that closes while it is sent is offline too (not an error
        with a traceback in whatever was talking to the satellite)."""
        client = self._require()
        try:
            await send(client)
        except LinkConnectionError as err:
            raise SatelliteOfflineError(f"Satellite {self.name} went offline: {err}") from err

    # Commands: each raises SatelliteOfflineError while the link is down.

    async def listen(self, timeout_s: float | None = None, *, full_duplex: bool = False) -> None:
        await self._command(lambda client: client.listen(timeout_s, full_duplex=full_duplex))

    async def stop_listening(self) -> None:
        await self._command(lambda client: client.stop_listening())

    async def play_start(self, stream_id: str, kind: protocol.PlayKind = "response") -> None:
        await self._command(lambda client: client.play_start(stream_id, kind))

    async def play_audio(self, pcm: bytes) -> None:
        await self._command(lambda client: client.play_audio(pcm))

    async def play_media_audio(self, pcm: bytes) -> None:
        await self._command(lambda client: client.play_media_audio(pcm))

    async def play_end(self, stream_id: str) -> None:
        await self._command(lambda client: client.play_end(stream_id))

    async def stop_playback(self, stream_id: str | None = None) -> None:
        await self._command(lambda client: client.stop_playback(stream_id))

    async def set_mute(self, muted: bool) -> None:
        self.wanted_muted = muted
        await self._command(lambda client: client.set_mute(muted))

    async def set_volume(self, volume: float) -> None:
        self.wanted_volume = volume
        await self._command(lambda client: client.set_volume(volume))

    async def configure(self, **changes: object) -> None:
        await self._command(lambda client: client.configure(**changes))  # type: ignore[arg-type]
