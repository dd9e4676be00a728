"""``scripts/demo``: the whole product on this machine, without a microphone, a speaker or an API key.

Starts a real Home Assistant with a generated config, the stand-in Realtime server (a SIMULATION of
OpenAI's service: no request leaves this machine), and the satellite agent on a synthesized WAV that
says "hey jarvis, turn on the kitchen light". Prints what happens step by step, then leaves everything
running (the satellite is visible in HA's UI) until Ctrl-C, and stops every process it started.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from tests.helpers.network import free_port, port_free

from .stack import (
    DOMAIN,
    PASSWORD,
    ROOT,
    USERNAME,
    StackError,
    played,
    running_stack,
    wait_for,
)

SIM = "[SIMULATION]"
LIGHT = "light.kitchen"
ENTITY = "assist_satellite.kitchen"
_T0 = time.monotonic()


COMMAND_AT_S = 8.0
ANSWER_AT_S = 70.0
ANSWER = "the kitchen light"


def demo_wav(path: Path) -> Path:
    """The microphone of the demo: silence, "hey jarvis, turn on the kitchen light", silence, then
    at ANSWER_AT_S the answer to the question the demo asks (espeak-ng, cached)."""
    from realtime_voice_satellite.audio import write_wav
    from tests.satellite.harness import Script

    script = Script().pause(COMMAND_AT_S).say("hey jarvis").pause(0.1)
    script.say("turn on the kitchen light")
    script.pause(ANSWER_AT_S - script.seconds).say(ANSWER).pause(1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, script.samples(), script.rate)
    return path


def step(text: str) -> None:
    print(f"\033[1m[{time.monotonic() - _T0:5.1f} s]\033[0m {text}", flush=True)


def detail(text: str) -> None:
    print(f"          {text}", flush=True)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__)
    parser.add_argument("--port", type=int, default=8123, help="HA's port (another if taken)")
    parser.add_argument(
        "--dir", type=Path, default=ROOT / ".demo", help="working directory (recreated)"
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="stop after the walk-through (no Ctrl-C wait)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    try:
        return run(args)
    except KeyboardInterrupt:
        print("\nStopping Home Assistant, the satellite and the stand-in...", flush=True)
        return 0
    except StackError as err:
        print(f"\ndemo failed: {err}", file=sys.stderr, flush=True)
        return 1


def processes_using(path: Path) -> list[int]:
    """Processes whose command line names ``path`` (another demo's hass or satellite)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"{path}/" in text:
            found.append(int(cmdline.parent.name))
    return found


def run(args: argparse.Namespace) -> int:
    if busy := processes_using(args.dir.resolve()):
        print(
            f"Another demo is running in {args.dir} (processes {busy}); stop it first (Ctrl-C).",
            file=sys.stderr,
        )
        return 1
    with running_stack(args.dir) as stack:
        (args.dir / ".gitignore").write_text("# created by scripts/demo\n*\n")
        hass = stack.hass
        hass.port = args.port if port_free(args.port) else free_port()
        print(
            "Realtime Voice demo. The Realtime endpoint is a SIMULATION: the stand-in server from\n"
            "tests/realtime_standin plays OpenAI's part (canned transcript, tone for speech, a scripted\n"
            "tool call). Home Assistant, the integration and the satellite agent are the real thing.\n"
            f"Working directory: {args.dir}\n",
            flush=True,
        )
        step(f"Starting Home Assistant on {hass.base} (config: {hass.config_dir}) ...")
        hass.start(wait=False)
        standin = stack.standin("ga", wait=False)
        standin.wait_ready()
        step(f"{SIM} Stand-in Realtime server (not OpenAI) at {standin.url}, GA interface")
        hass.wait_ready()
        step("Home Assistant is up")
        hass.onboard()
        step(f"Onboarded the owner: user '{USERNAME}', password '{PASSWORD}'")

        kitchen = stack.satellite("Kitchen")
        wav = demo_wav(args.dir / "input.wav")
        kitchen.start(wav)
        listening_since = time.monotonic()  # the input WAV plays in real time from here
        step(f"Satellite agent 'Kitchen' listens on 127.0.0.1:{kitchen.port}")
        detail(
            f"microphone: {wav} ({COMMAND_AT_S:.0f} s of silence, 'hey jarvis', 'turn on the "
            f"kitchen light'; at {ANSWER_AT_S:.0f} s, without wake word: '{ANSWER}')"
        )
        detail(f"speaker:    {kitchen.output}")
        detail(f"log:        {kitchen.log}")

        entry = hass.add_satellite(kitchen, standin, "auto")
        step(f"Config flow over the REST API added '{entry['title']}' (entry {entry['entry_id']})")
        detail(
            f"API key {SIM} 'sk-demo-simulated-...', endpoint {standin.url}, model selection auto"
        )
        hass.wait_state(ENTITY, lambda s: s == "idle", 30, "to be idle")
        hass.expose(LIGHT)
        interface = hass.wait_state(
            "sensor.kitchen_interface", lambda s: s in ("ga", "beta"), 30, "to be known"
        )
        step(
            f"Session open: model {hass.state_of('sensor.kitchen_model')} "
            f"over the {interface.upper()} interface {SIM}; {ENTITY} is "
            f"{hass.state_of(ENTITY)}"
        )
        step(f"{LIGHT} before: {hass.state_of(LIGHT)}")

        logs = stack.logs
        wake = hass.wait_event(f"{DOMAIN}_wake_word_detected", 60, 0, logs)
        step(f"Wake word '{wake['data']['wake_word']}' heard (score {wake['data']['score']:.2f})")
        hass.wait_event(f"{DOMAIN}_conversation_started", 10, 0, logs)
        step("Conversation started: the command streams to the Realtime session")
        tool = hass.wait_event(f"{DOMAIN}_tool_called", 30, 0, logs)
        done = [t["name"] for t in tool["data"]["result"]["data"]["success"]]
        step(
            f"{SIM} The model called tool {tool['data']['name']}({tool['data']['arguments']}); "
            f"HA ran it: {done or tool['data']['result']}"
        )
        hass.wait_state(LIGHT, lambda s: s == "on", 15, "to be on")
        step(f"{LIGHT} after: {hass.state_of(LIGHT)}")
        assert kitchen.output is not None
        output = kitchen.output
        wait_for(lambda: played(output)[1] > 0.5, 20, "the answer's audio", logs)
        ended = hass.wait_event(f"{DOMAIN}_conversation_ended", 60, 0, logs)
        step(
            f"Conversation ended ({ended['data']['reason']}): user said "
            f"{ended['data']['user']}, assistant {SIM} said {ended['data']['assistant']}"
        )
        detail(f"answer audio in {output}: {played(output)[0]:.2f} s")

        hass.wait_state(ENTITY, lambda s: s == "idle", 30, "to be idle")
        before = played(output)[0]
        message = "The washing machine has finished."
        hass.call("assist_satellite", "announce", entity_id=ENTITY, message=message)
        # The service returns once the satellite has played the announcement.
        wait_for(lambda: played(output)[0] > before + 0.5, 30, "the announcement's audio", logs)
        step(f"assist_satellite.announce '{message}' through the REST API")
        detail(
            f"announcement audio written to {output}: {played(output)[0] - before:.2f} s "
            f"(file now {played(output)[0]:.2f} s) {SIM} speech is a tone"
        )
        # A timer, set through HA's Assist for this satellite (what the Assist dialog does with a
        # device), rings on the satellite when it finishes, then says its name.
        before = played(output)[1]
        reply = hass.ws_command(
            "conversation/process",
            text="set a timer for 3 seconds",
            language="en",
            device_id=wake["data"]["device_id"],
        )
        answer = reply["response"]["speech"]["plain"]["speech"]
        step(f"Assist for the Kitchen satellite: 'set a timer for 3 seconds' -> {answer!r}")
        timers = (hass.state(ENTITY) or {}).get("attributes", {}).get("timers", [])
        detail(f"{ENTITY} timers attribute: {[(t['seconds'], t['seconds_left']) for t in timers]}")
        wait_for(lambda: played(output)[1] > before + 3.0, 40, "the timer's ring", logs)
        hass.wait_state(ENTITY, lambda s: s == "idle", 30, "to be idle after the ring")
        step(
            f"The timer rang on the satellite: {played(output)[1] - before:.1f} s of ring and "
            f"'Your timer is done.' {SIM} speech is a tone"
        )
        # ask_question: the satellite asks, listens without a wake word, and the answer (the
        # input WAV's second sentence) is matched against the automation's sentence templates.
        ask_at = ANSWER_AT_S - 5.0  # the question takes about 2 s; listening lasts 8 s
        late = time.monotonic() - listening_since - ask_at
        if late > 2.0:
            raise StackError(f"the demo reached ask_question {late:.1f} s after its answer's cue")
        time.sleep(max(0.0, -late))
        result = hass.request(
            "POST",
            "/api/services/assist_satellite/ask_question?return_response",
            json={
                "entity_id": ENTITY,
                "question": "Which light?",
                "answers": [
                    {"id": "kitchen", "sentences": ["[turn on] the kitchen light"]},
                    {"id": "bedroom", "sentences": ["[turn on] the bedroom light"]},
                ],
            },
            timeout=60,
        )
        answer = result["service_response"]
        step(
            f"assist_satellite.ask_question 'Which light?' through the REST API: the user said "
            f"{answer['sentence']!r} {SIM}, matched answer id {answer['id']!r}"
        )
        for sensor in ("tokens", "cost"):  # response_latency is disabled by default
            found = hass.state(f"sensor.kitchen_{sensor}") or {}
            unit = found.get("attributes", {}).get("unit_of_measurement", "")
            detail(f"sensor.kitchen_{sensor}: {found.get('state')} {unit} {SIM}")
        errors = hass.integration_errors()
        step(f"HA log: {len(errors)} ERROR lines from custom_components.realtime_voice")
        for line in errors:
            detail(line)

        print(
            f"\nOpen {hass.base} and log in as '{USERNAME}' / '{PASSWORD}':\n"
            f"  Settings > Devices & services > Realtime Voice Satellite > Kitchen (device page)\n"
            f"  {hass.base}/config/integrations/integration/{DOMAIN}\n"
            f"Logs: {hass.log}, {kitchen.log}, {standin.log}\n"
            f"The Realtime endpoint is a SIMULATION ({standin.url}). Ctrl-C stops everything.",
            flush=True,
        )
        if args.no_wait:
            return 0
        while True:
            procs = (("hass", hass.proc), ("satellite", kitchen.proc), ("stand-in", standin.proc))
            for name, proc in procs:
                if proc is None or not proc.alive:
                    print(f"{name} exited; stopping the demo", file=sys.stderr, flush=True)
                    return 1
            time.sleep(1.0)


if __name__ == "__main__":
    sys.exit(main())
