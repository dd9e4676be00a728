"""#25 end to end on the newest release: a satellite without a key is discovered and paired in the
config flow by typing the code it speaks, no key copied; three wrong codes end pairing and the flow
says so; ``--pair`` on the satellite opens it again; a second Home Assistant cannot pair then.

A real agent process in file mode (it speaks the code into its output WAV and prints it on its
stdout, as on a terminal) and real hass. Discovery: the e2e stack has no mDNS (multicast would leave
loopback), so the test hands the satellite's own advertisement (advertiser.service_info, with the id
from its state directory) to hass's discovery as HA's zeroconf integration does
(tests/e2e/e2e_zeroconf).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from urllib.parse import urlsplit

import pytest

from realtime_voice_satellite.agent.advertiser import service_info
from realtime_voice_satellite.agent.identity import ID_FILE
from realtime_voice_satellite.link.pairing import PairingError, request_code

from .conftest import MainStack
from .stack import API_KEY, BIN, DOMAIN, Hass, Satellite, played, silence_wav, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CODE_LINE = re.compile(r"^Pairing code for Home Assistant: (\d{3}) (\d{3})$", re.MULTILINE)


def flow_step(hass: Hass, flow_id: str, data: dict) -> dict:
    return hass.request("POST", f"/api/config/config_entries/flow/{flow_id}", json=data)


def codes(satellite: Satellite) -> list[str]:
    return ["".join(m) for m in CODE_LINE.findall(satellite.log_text())]


def next_code(satellite: Satellite, seen: int) -> str:
    wait_for(lambda: len(codes(satellite)) > seen, 10, "the satellite to say its code")
    return codes(satellite)[-1]


def advertise(hass: Hass, satellite: Satellite) -> None:
    state = satellite.workdir / f"state-{satellite.slug}"
    wait_for((state / ID_FILE).exists, 10, "the satellite's id")
    satellite_id = json.loads((state / ID_FILE).read_text())["id"]
    info = service_info(satellite.name, satellite.port, ["127.0.0.1"], satellite_id)
    hass.call(
        "e2e_zeroconf",
        "discovered",
        integration=DOMAIN,
        addresses=info.parsed_addresses(),
        port=info.port,
        hostname=info.server,
        type=info.type,
        name=info.name,
        properties={k.decode(): (v or b"").decode() for k, v in info.properties.items()},
    )


def test_a_discovered_satellite_pairs_by_the_code_it_speaks(main_stack: MainStack) -> None:
    hass, stack = main_stack.hass, main_stack.stack
    porch = stack.satellite("Porch")
    porch.access_key = None  # as installed: no key, pairing mode open at start
    porch.start(silence_wav(stack.workdir / "silence-porch.wav", seconds=1.0))
    assert "not paired yet" in porch.log_text()
    entry_id = None
    try:
        advertise(hass, porch)
        flows = []

        def discovered() -> bool:
            flows[:] = [
                f
                for f in hass.ws_command("config_entries/flow/progress")
                if f["handler"] == DOMAIN and f["context"]["source"] == "zeroconf"
            ]
            return bool(flows)

        wait_for(discovered, 10, "the discovery flow", stack.logs)
        (flow,) = flows
        assert flow["step_id"] == "zeroconf_confirm"
        result = flow_step(hass, flow["flow_id"], {})
        # no address, no key: the satellite speaks its code now
        assert result["step_id"] == "pair", result
        assert result["errors"] == {}
        code = next_code(porch, 0)

        # three wrong codes end pairing, and the flow says so
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        errors = [flow_step(hass, flow["flow_id"], {"code": wrong})["errors"] for _ in range(3)]
        assert errors == [{"code": "wrong_code"}] * 2 + [{"base": "too_many_codes"}]
        assert flow_step(hass, flow["flow_id"], {"code": code})["errors"] == {
            "base": "too_many_codes"
        }
        assert not (stack.workdir / "state-porch" / "access_key").exists()

        # the user starts pairing again on the Pi, then asks for the code (the form sent empty)
        subprocess.run(
            [str(BIN / "realtime-voice"), "satellite", "--config", str(porch.config), "--pair"],
            check=True,
            capture_output=True,
        )
        wait_for(
            lambda: "pairing mode is open for 5 minutes (--pair)" in porch.log_text(),
            10,
            "the satellite to take --pair",
        )
        seen = len(codes(porch))
        assert flow_step(hass, flow["flow_id"], {})["errors"] == {}
        code = next_code(porch, seen)
        result = flow_step(hass, flow["flow_id"], {"code": code})
        if result.get("step_id") == "account":  # the first satellite: the OpenAI key, once
            result = flow_step(
                hass, flow["flow_id"], {"api_key": API_KEY, "url": main_stack.standin.url}
            )
        elif result.get("step_id") == "choose_account":  # earlier tests left several accounts
            choices = result["data_schema"][0]["selector"]["select"]["options"]
            endpoint = urlsplit(main_stack.standin.url).netloc
            chosen = next(c for c in choices if endpoint in c["label"])
            result = flow_step(hass, flow["flow_id"], {"account_entry": chosen["value"]})
        assert result["type"] == "create_entry", result
        assert result["title"] == "Porch"
        entry_id = result["result"]["entry_id"]
        assert result["result"]["state"] == "loaded"
        hass.wait_state("binary_sensor.porch_link", lambda s: s == "on", 15, "the link up")

        # the code was spoken (file mode: into the output WAV) and never logged
        assert porch.output is not None
        output = porch.output
        # the chime and 4 x 6 digits: seconds of samples above -36 dBFS (silence in, nothing else)
        wait_for(lambda: played(output)[1] > 2.0, 10, f"the spoken code in {output}")
        log_lines = [line for line in porch.log_text().splitlines() if " realtime_voice" in line]
        assert log_lines
        assert not [line for line in log_lines if code in line]
        assert code not in hass.log.read_text(errors="replace")

        # a second Home Assistant cannot pair while the satellite has its key
        with pytest.raises(PairingError) as refused:
            asyncio.run(request_code("127.0.0.1", porch.port))
        assert refused.value.code == "not_pairing"
    finally:
        if entry_id is not None:
            hass.remove_entry(entry_id)
        porch.stop()
