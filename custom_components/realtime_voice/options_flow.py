"""Options, in sections: model and voice, conversation (instructions, follow-up window), wake word,
tools. Stored flat (one key per option, as the rest of the integration reads them)."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlowResult, OptionsFlowWithReload
from homeassistant.data_entry_flow import section
from homeassistant.helpers import selector

from . import SATELLITE_OPTIONS, async_send_satellite_settings
from .account import account_of, accounts, async_account_for_key
from .const import (
    CONF_ACCOUNT,
    CONF_API_KEY,
    CONF_AUTO_SELECT_VOICE,
    CONF_CONVERSATION_MODE,
    CONF_FOLLOW_UP_SECONDS,
    CONF_INSTRUCTIONS,
    CONF_LEGACY_MODEL,
    CONF_LIVE_AGENT,
    CONF_LIVE_FALLBACK,
    CONF_LIVE_MODEL,
    CONF_LIVE_URL,
    CONF_MODEL,
    CONF_MODEL_SELECTION,
    CONF_URL,
    CONF_VOICE,
    CONF_VOICE_FALLBACK,
    CONF_WAKE_THRESHOLD,
    CONF_WAKE_WORDS,
    CONVERSATION_MODES,
    DEFAULT_CONVERSATION_MODE,
    DEFAULT_FOLLOW_UP_SECONDS,
    DEFAULT_INSTRUCTIONS,
    DEFAULT_LIVE_FALLBACK,
    DEFAULT_LIVE_MODEL,
    DEFAULT_LIVE_URL,
    DEFAULT_URL,
    DEFAULT_VOICE_FALLBACK,
    LIVE_FALLBACKS,
    LIVE_MODELS,
    MODE_LIVE,
    needs_account,
)
from .core.link import protocol
from .core.realtime import registry
from .flow_schemas import account_schema, model_fields, select
from .schema_library import vol
from .tools import normalize_tool_options, tool_options_schema, validate_tool_options
from .validation import RealtimeCheckError, async_check_realtime


def voice_problem(options: dict[str, Any]) -> str | None:
    """Without auto-select, a voice the selected model lacks is an error (checked from the registry)."""
    if options.get(CONF_AUTO_SELECT_VOICE, True):
        return None
    selection = options.get(CONF_MODEL_SELECTION, "auto")
    models = [options.get(CONF_MODEL)] if selection != "legacy" else []
    if selection != "new":
        models.append(options.get(CONF_LEGACY_MODEL))
    voice = options.get(CONF_VOICE)
    for model in filter(None, models):
        voices = registry.voices_of(model)
        if voices is not None and voice not in voices:
            return f"Voice '{voice}' not available for model '{model}'"
    return None


def live_problem(options: dict[str, Any], info: protocol.Info | None) -> str | None:
    """Live hears everything the microphone sends while it speaks: a satellite that reports its
    echo cancellation off would interrupt itself with its own voice."""
    if options.get(CONF_CONVERSATION_MODE) != MODE_LIVE or info is None:
        return None
    if info.echo_cancellation is False:
        return (
            f"{info.name} reports echo cancellation off (audio.echo_cancellation); Live hears the "
            "satellite's own voice through its microphone and would interrupt itself"
        )
    return None


SECTION_REALTIME = "realtime"
SECTION_CONVERSATION = "conversation"
SECTION_WAKE_WORD = "wake_word"
SECTION_TOOLS = "tools"

# In the model section: which OpenAI account the satellite uses, or another key (a new account).
CONF_NEW_ACCOUNT = "new_account"


def flatten(user_input: dict[str, Any]) -> dict[str, Any]:
    """The sections' fields as one mapping (the options are stored flat)."""
    flat: dict[str, Any] = {}
    for name, value in user_input.items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[name] = value
    return flat


def wake_word_choices(info: protocol.Info | None, active: list[str]) -> list[str]:
    """What the wake-word field offers: the satellite's models (when it has been seen) and every
    active one, so that stored wake words stay valid choices while the satellite is offline or no
    longer offers one of them (the user can then deselect it)."""
    available = list(info.wake_words_available) if info else []
    return available + [name for name in active if name not in available]


class RealtimeVoiceOptionsFlow(OptionsFlowWithReload):
    """Saving reloads the entry (a new Realtime session) unless only options that the satellite
    applies itself changed: those are sent to it, and the conversation carries on. The satellite's
    OpenAI account (entry data, not an option) can be changed here too, to another account or to a
    new key (then the account step asks it)."""

    _options: dict[str, Any]

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders = {
            "detail": "",
            "invalid_services": "",
            "unknown_llm_apis": "",
            "admin_llm_apis": "",
            "invalid_media_hosts": "",
        }
        flat = flatten(user_input) if user_input is not None else None
        if flat is not None:
            tool_errors, tool_placeholders = validate_tool_options(self.hass, flat)
            if tool_errors:  # shown on the section (HA shows a section's errors under it)
                errors[SECTION_TOOLS] = next(iter(tool_errors.values()))
            placeholders.update(tool_placeholders)
            if problem := voice_problem(flat):
                errors[SECTION_REALTIME] = "voice_unavailable"
                placeholders["detail"] = problem
            if problem := live_problem(flat, self._link_info()):
                errors[SECTION_CONVERSATION] = "live_needs_echo_cancellation"
                placeholders["detail"] = problem
            if (
                needs_account(flat)
                and not flat.get(CONF_ACCOUNT)
                and not flat.get(CONF_NEW_ACCOUNT)
                and account_of(self.hass, self.config_entry) is None
            ):  # a pipeline-only satellite switched to Realtime: a key is needed
                errors[SECTION_CONVERSATION] = "account_required"
            if not errors:
                chosen = flat.pop(CONF_ACCOUNT, None)
                new_account = flat.pop(CONF_NEW_ACCOUNT, False)
                data = {**self.config_entry.options, **flat, **normalize_tool_options(flat)}
                if CONF_WAKE_THRESHOLD not in flat:  # the field was cleared
                    data.pop(CONF_WAKE_THRESHOLD, None)
                if CONF_LIVE_AGENT not in flat:  # cleared: Home Assistant's own agent
                    data.pop(CONF_LIVE_AGENT, None)
                self._options = data
                if new_account:
                    return await self.async_step_account()
                return await self._async_save(chosen)

        options = {**self.config_entry.options, **(flat or {})}
        info = self._link_info()
        active_wake_words = list(
            options.get(CONF_WAKE_WORDS, info.wake_words_active if info else [])
        )
        available_wake_words = wake_word_choices(info, active_wake_words)
        realtime: dict[Any, Any] = {
            **self._account_fields(),
            **model_fields(options),
            vol.Required(
                CONF_VOICE_FALLBACK,
                default=options.get(CONF_VOICE_FALLBACK, DEFAULT_VOICE_FALLBACK),
            ): select(registry.VOICES, custom=True),
            vol.Required(
                CONF_AUTO_SELECT_VOICE, default=options.get(CONF_AUTO_SELECT_VOICE, True)
            ): bool,
            vol.Required(
                CONF_LIVE_MODEL, default=options.get(CONF_LIVE_MODEL, DEFAULT_LIVE_MODEL)
            ): select(LIVE_MODELS, custom=True),
            vol.Required(CONF_LIVE_URL, default=options.get(CONF_LIVE_URL, DEFAULT_LIVE_URL)): str,
        }
        conversation: dict[Any, Any] = {
            vol.Required(
                CONF_CONVERSATION_MODE,
                default=options.get(CONF_CONVERSATION_MODE, DEFAULT_CONVERSATION_MODE),
            ): select(CONVERSATION_MODES, key=CONF_CONVERSATION_MODE),
            vol.Required(
                CONF_LIVE_FALLBACK,
                default=options.get(CONF_LIVE_FALLBACK, DEFAULT_LIVE_FALLBACK),
            ): select(LIVE_FALLBACKS, key=CONF_LIVE_FALLBACK),
            # empty: Home Assistant's own agent
            vol.Optional(
                CONF_LIVE_AGENT,
                description={"suggested_value": options.get(CONF_LIVE_AGENT)},
            ): selector.ConversationAgentSelector(),
            vol.Required(
                CONF_INSTRUCTIONS, default=options.get(CONF_INSTRUCTIONS, DEFAULT_INSTRUCTIONS)
            ): selector.TemplateSelector(),
            vol.Required(
                CONF_FOLLOW_UP_SECONDS,
                default=options.get(CONF_FOLLOW_UP_SECONDS, DEFAULT_FOLLOW_UP_SECONDS),
            ): selector.NumberSelector(
                selector.NumberSelectorConfig(
                    min=0,
                    max=60,
                    step=1,
                    unit_of_measurement="s",
                    mode=selector.NumberSelectorMode.BOX,
                )
            ),
        }
        wake_word: dict[Any, Any] = {
            vol.Required(CONF_WAKE_WORDS, default=active_wake_words): selector.SelectSelector(
                selector.SelectSelectorConfig(options=available_wake_words, multiple=True)
            ),
            # empty: the satellite's own threshold (each wake word model's recommendation)
            vol.Optional(
                CONF_WAKE_THRESHOLD,
                description={"suggested_value": options.get(CONF_WAKE_THRESHOLD)},
            ): selector.NumberSelector(
                selector.NumberSelectorConfig(min=0.05, max=0.95, step=0.05)
            ),
        }
        schema = {
            vol.Required(SECTION_REALTIME): section(vol.Schema(realtime), {"collapsed": False}),
            vol.Required(SECTION_CONVERSATION): section(
                vol.Schema(conversation), {"collapsed": False}
            ),
            vol.Required(SECTION_WAKE_WORD): section(vol.Schema(wake_word), {"collapsed": False}),
            vol.Required(SECTION_TOOLS): section(
                vol.Schema(tool_options_schema(self.hass, options)),
                # open when it has an error to show
                {"collapsed": SECTION_TOOLS not in errors},
            ),
        }
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(schema),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_account(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Another OpenAI key for this satellite: checked, then an account of its own (or the
        account that already holds it)."""
        errors: dict[str, str] = {}
        placeholders = {"detail": ""}
        if user_input is not None:
            try:
                await async_check_realtime(self.hass, user_input)
            except RealtimeCheckError as err:
                placeholders["detail"] = err.detail
                errors["base"] = err.translation_key
            else:
                api_key = user_input[CONF_API_KEY]
                url = user_input.get(CONF_URL) or DEFAULT_URL
                account = await async_account_for_key(self.hass, api_key, url)
                return await self._async_save(account.entry_id)
        return self.async_show_form(
            step_id="account",
            data_schema=self.add_suggested_values_to_schema(
                account_schema({}),
                {k: v for k, v in (user_input or {}).items() if k != CONF_API_KEY},
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _link_info(self) -> protocol.Info | None:
        link = (
            self.config_entry.runtime_data.link
            if hasattr(self.config_entry, "runtime_data")
            else None
        )
        return link.info if link is not None else None

    def _account_fields(self) -> dict[Any, Any]:
        current = account_of(self.hass, self.config_entry)
        choices = [
            selector.SelectOptionDict(value=entry.entry_id, label=entry.title)
            for entry in accounts(self.hass)
        ]
        fields: dict[Any, Any] = {}
        if choices:
            fields[
                vol.Optional(
                    CONF_ACCOUNT,
                    default=current.entry_id if current is not None else choices[0]["value"],
                )
            ] = selector.SelectSelector(selector.SelectSelectorConfig(options=choices))
        fields[vol.Optional(CONF_NEW_ACCOUNT, default=False)] = bool
        return fields

    async def _async_save(self, account_id: str | None) -> ConfigFlowResult:
        data = self._options
        await self._async_apply_without_reload(data)
        entry = self.config_entry
        if account_id is not None and account_id != entry.data.get(CONF_ACCOUNT):
            # another key: a new session, once, whatever else changed
            self.hass.config_entries.async_update_entry(
                entry, data={**entry.data, CONF_ACCOUNT: account_id}
            )
            self.automatic_reload = False
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return self.async_create_entry(data=data)

    async def _async_apply_without_reload(self, options: dict[str, Any]) -> None:
        """Only satellite options changed: no reload; the satellite gets them now if it is online
        (else when it reconnects, as every connect sends them)."""
        current = self.config_entry.options
        changed = {
            key for key in set(current) | set(options) if current.get(key) != options.get(key)
        }
        self.automatic_reload = bool(changed - SATELLITE_OPTIONS)
        if changed and not self.automatic_reload and hasattr(self.config_entry, "runtime_data"):
            await async_send_satellite_settings(self.config_entry.runtime_data.link, options)
