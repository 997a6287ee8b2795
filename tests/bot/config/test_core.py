"""The admin's YAML: the shipped example, `${NAME}` interpolation, error positions, semantic checks, check-config."""

from __future__ import annotations

import re
import textwrap
import typing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.cli.main import main
from bot.config.core import Config, Texts
from bot.config.loader import ConfigError, Problem
from bot.registry import Registry
from tests import factories
from tests.conftest import ROOT, base_config, write_yaml
from tests.factories import config_loader, default_texts, load_config, load_handlers

EXAMPLE = ROOT / "config.example.yaml"
ENV_NAMES = (
    "WECOM_CORP_ID",
    "WECOM_AGENT_ID",
    "WECOM_SECRET",
    "WECOM_TOKEN",
    "WECOM_AES_KEY",
    "AIBOT_TOKEN",
    "AIBOT_AES_KEY",
    "GROUPBOT_DATABASE_URL",
    "GROUPBOT_CONFIG",
)


# ---------------------------------------------------------------- helpers


def _write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _problems(path: Path, environ: dict[str, str] | None = None, **kwargs: Any) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={} if environ is None else environ, **kwargs)
    return info.value.problems


def _only_problem(path: Path, environ: dict[str, str] | None = None, **kwargs: Any) -> Problem:
    problems = _problems(path, environ, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


def _shipped_loader() -> Any:
    return config_loader(load_handlers())


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The CLI reads os.environ: make sure the developer's WECOM_* do not leak into assertions."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# ---------------------------------------------------------------- 1. the shipped example


def test_example_loads_with_an_empty_environment() -> None:
    """`make run` works with no WeCom account: the example is valid and both channels are simply off."""
    config = _shipped_loader()(EXAMPLE, environ={})
    assert config.timezone == "Asia/Shanghai"
    assert config.database_url == "sqlite:///groupbot.db"
    assert config.wecom.corp_id == "" and config.wecom.token == "" and config.wecom.encoding_aes_key == ""
    assert not config.wecom.callback_ready
    assert not config.aibot.callback_ready
    assert config.roles.admins == ["admin01"]
    assert [rule.match[0] for rule in config.keywords] == ["发货", "客服", "优惠券"]
    assert config.outbox.transport == "console"


def test_example_takes_credentials_from_the_environment() -> None:
    """WECOM_* and AIBOT_* flow into the right fields, making both callbacks ready."""
    environ = {
        "WECOM_CORP_ID": factories.CORP_ID,
        "WECOM_AGENT_ID": factories.AGENT_ID,
        "WECOM_SECRET": "s3cret",
        "WECOM_TOKEN": factories.APP_TOKEN,
        "WECOM_AES_KEY": factories.APP_AES_KEY,
        "AIBOT_TOKEN": factories.AIBOT_TOKEN,
        "AIBOT_AES_KEY": factories.AIBOT_AES_KEY,
    }
    config = _shipped_loader()(EXAMPLE, environ=environ)
    assert config.wecom.corp_id == factories.CORP_ID
    assert config.wecom.agent_id == factories.AGENT_ID
    assert config.wecom.secret == "s3cret"
    assert config.wecom.token == factories.APP_TOKEN
    assert config.wecom.encoding_aes_key == factories.APP_AES_KEY
    assert config.aibot.token == factories.AIBOT_TOKEN
    assert config.aibot.encoding_aes_key == factories.AIBOT_AES_KEY
    assert config.wecom.callback_ready and config.aibot.callback_ready


def test_example_refuses_a_malformed_aes_key_from_the_environment() -> None:
    """A mistyped secret in the environment is caught at load, pointing at the line that reads it."""
    problem = _only_problem(EXAMPLE, {"WECOM_AES_KEY": "too-short"})
    line = _line_of(EXAMPLE, "encoding_aes_key: ${WECOM_AES_KEY")
    assert (problem.line, problem.path) == (line, "wecom.encoding_aes_key")


def _line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    hits = [i for i, line in enumerate(lines, start=1) if needle in line]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


def _section_text(lines: list[str], start_line: int) -> list[str]:
    """The lines of a top-level section: from its key to the next top-level key (0-based start)."""
    out = []
    for line in lines[start_line + 1 :]:
        if line and not line[0].isspace() and not line.startswith("#"):
            break
        out.append(line)
    return out


def _commented_keys(section_lines: list[str]) -> set[str]:
    # An option shown as `# key: value` inside its section is documented, just not switched on.
    return {m.group(1) for line in section_lines if (m := re.match(r"\s*#\s*([A-Za-z_]\w*)\s*:", line))}


def _model_of(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """('one'|'list'|'dict', model) when a field holds a model, a list of models or a dict of models."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return ("one", annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return ("list", args[0])
    if origin is dict and len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
        return ("dict", args[1])
    return None


def _undocumented(model: type[BaseModel], nodes: list[Any], where: str, commented: set[str]) -> list[str]:
    """Dotted names of `model`'s fields that none of the example's `nodes` (nor a comment) shows."""
    missing: list[str] = []
    maps = [n for n in nodes if isinstance(n, CommentedMap)]
    for name, field in model.model_fields.items():
        dotted = f"{where}.{name}" if where else name
        present = [m[name] for m in maps if name in m]
        if not present and name not in commented:
            missing.append(dotted)
            continue
        inner = _model_of(field.annotation)
        if inner is None or inner[1] is Texts:
            continue  # Texts is checked against default_texts.yaml below
        kind, sub = inner
        if kind == "one":
            children = present
        elif kind == "list":
            children = [item for seq in present if isinstance(seq, CommentedSeq) for item in seq]
            dotted += "[]"
        else:
            children = [v for m in present if isinstance(m, CommentedMap) for v in m.values()]
            dotted += ".*"
        if not children:
            missing.append(f"{dotted} (no example entry)")
            continue
        missing.extend(_undocumented(sub, children, dotted, commented))
    return missing


def test_example_documents_every_option() -> None:
    """Every field of every config section appears in config.example.yaml (set, or shown commented out).

    Walks the pydantic models recursively, so a new option cannot ship without its example line.
    """
    text = EXAMPLE.read_text(encoding="utf-8")
    tree = YAML(typ="rt").load(text)
    lines = text.splitlines()
    missing: list[str] = []
    for name, field in Config.model_fields.items():
        if name not in tree:
            missing.append(name)
            continue
        section_comments = _commented_keys(_section_text(lines, tree.lc.key(name)[0]))
        inner = _model_of(field.annotation)
        if inner is None or inner[1] is Texts:
            continue
        kind, sub = inner
        node = tree[name]
        children = [node] if kind == "one" else list(node) if kind == "list" else list(node.values())
        label = name + ("[]" if kind == "list" else ".*" if kind == "dict" else "")
        if not children:
            missing.append(f"{label} (no example entry)")
            continue
        missing.extend(_undocumented(sub, children, label, section_comments))
    assert missing == [], f"options missing from config.example.yaml: {missing}"


def test_example_lists_every_text() -> None:
    """Every sentence the bot can say is shown under `texts:` in the example, so admins can find it."""
    tree = YAML(typ="rt").load(EXAMPLE.read_text(encoding="utf-8"))
    shown = set(tree["texts"])
    assert sorted(set(default_texts()) - shown) == []
    assert sorted(shown - set(default_texts())) == []


# ---------------------------------------------------------------- 2. ${NAME} interpolation


def test_env_reference_is_replaced(tmp_path: Path) -> None:
    """`${NAME}` takes the environment's value, also inside a longer string and in list items."""
    path = _write(
        tmp_path,
        """
        aibot:
          token: ${BOT_TOKEN}
        database_url: postgresql://bot:${DB_PASS}@db.internal/bot
        roles:
          admins:
            - ${BOSS}
            - fixed01
        """,
    )
    config = load_config(path, environ={"BOT_TOKEN": "tok", "DB_PASS": "pw", "BOSS": "boss01"})
    assert config.aibot.token == "tok"
    assert config.database_url == "postgresql://bot:pw@db.internal/bot"
    assert config.roles.admins == ["boss01", "fixed01"]


def test_env_default_applies_when_unset_or_empty(tmp_path: Path) -> None:
    """`${NAME:-default}` falls back when the variable is unset or empty, and yields to a set value."""
    path = _write(tmp_path, "timezone: ${TZ_NAME:-Europe/Berlin}\n")
    assert load_config(path, environ={}).timezone == "Europe/Berlin"
    assert load_config(path, environ={"TZ_NAME": ""}).timezone == "Europe/Berlin"
    assert load_config(path, environ={"TZ_NAME": "UTC"}).timezone == "UTC"


def test_env_empty_default_allows_an_unset_variable(tmp_path: Path) -> None:
    """`${NAME:-}` is the documented way to allow a secret to be absent: the field is empty."""
    path = _write(tmp_path, "wecom:\n  secret: ${WECOM_SECRET:-}\n")
    assert load_config(path, environ={}).wecom.secret == ""


def test_env_unset_without_default_names_file_line_path_and_variable(tmp_path: Path) -> None:
    """An unset `${NAME}` is an error at the line that uses it, saying which variable and how to allow it."""
    path = _write(
        tmp_path,
        """
        timezone: UTC
        wecom:
          corp_id: plain
          token: ${APP_TOKEN_MISSING}
        roles:
          admins:
            - ok01
            - ${ADMIN_MISSING}
        """,
    )
    problems = _problems(path)
    rendered = [str(p) for p in problems]
    assert rendered[0].startswith(f"{path}:4:10: wecom.token: environment variable APP_TOKEN_MISSING is not set")
    assert "${APP_TOKEN_MISSING:-}" in rendered[0]
    assert rendered[1].startswith(f"{path}:8:7: roles.admins[1]: environment variable ADMIN_MISSING is not set")
    assert len(problems) == 2


# ---------------------------------------------------------------- 3. error positions and format


def test_unknown_key_points_at_that_key(tmp_path: Path) -> None:
    """A typo'd key is refused ('unknown key') at its own line and column, not silently ignored."""
    path = _write(
        tmp_path,
        """
        timezone: UTC
        wecom:
          corp_id: abc
          tokn: xyz
        """,
    )
    assert str(_only_problem(path)) == f"{path}:4:3: wecom.tokn: unknown key"


def test_unknown_top_level_section(tmp_path: Path) -> None:
    path = _write(tmp_path, "timezone: UTC\n\nquizz:\n  bank: []\n")
    assert str(_only_problem(path)) == f"{path}:3:1: quizz: unknown key"


def test_unknown_key_inside_a_list_item(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        keywords:
          - match: [a]
            reply: one
          - match: [b]
            reply: two
            answer: nope
        """,
    )
    assert str(_only_problem(path)) == f"{path}:6:5: keywords[1].answer: unknown key"


def test_wrong_type_points_at_the_value(tmp_path: Path) -> None:
    """outbox.batch_size: "many" names the field and says an integer was expected."""
    path = _write(
        tmp_path,
        """
        timezone: UTC
        outbox:
          poll_seconds: 2
          batch_size: many
        """,
    )
    problem = _only_problem(path)
    assert (problem.file, problem.line, problem.column, problem.path) == (str(path), 4, 3, "outbox.batch_size")
    assert "integer" in problem.message


def test_out_of_range_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "outbox:\n  batch_size: 0\n")
    problem = _only_problem(path)
    assert (problem.line, problem.path) == (2, "outbox.batch_size")
    assert "greater than or equal to 1" in problem.message


def test_missing_field_in_a_list_item_points_at_the_item(tmp_path: Path) -> None:
    """keywords[1].reply missing reads `file:5:5: keywords[1].reply: field required` (the item's line)."""
    path = _write(
        tmp_path,
        """
        keywords:
          - match: [发货]
            reply: 48小时内发货
          - match: [客服]
            mode: exact
        """,
    )
    assert str(_only_problem(path)) == f"{path}:4:5: keywords[1].reply: field required"


def test_every_validation_problem_is_reported_at_once(tmp_path: Path) -> None:
    """An admin fixing the file sees all mistakes in one run, each at its own line."""
    path = _write(
        tmp_path,
        """
        timezone: UTC
        outbox:
          batch_size: many
        keywords:
          - match: [a]
        roles:
          chiefs: [x]
        """,
    )
    where = {(p.path, p.line) for p in _problems(path)}
    assert where == {("outbox.batch_size", 3), ("keywords[0].reply", 5), ("roles.chiefs", 7)}


def test_invalid_yaml_syntax_names_line_and_column(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        timezone: UTC
        keywords:
          - match: [a]
            reply: hi: there
        """,
    )
    problem = _only_problem(path)
    assert (problem.line, problem.column) == (4, 14)
    assert problem.message.startswith("invalid YAML:")
    assert str(problem).startswith(f"{path}:4:14: invalid YAML: ")


def test_tab_indentation_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("timezone: UTC\nwecom:\n  corp_id: a\n\ttoken: b\n", encoding="utf-8")
    problem = _only_problem(path)
    assert (problem.line, problem.column) == (4, 1)
    assert "invalid YAML" in problem.message


def test_duplicate_key_is_reported_at_the_second_occurrence(tmp_path: Path) -> None:
    """PyYAML would keep the last value silently; here the second `token:` is an error at its line."""
    path = _write(
        tmp_path,
        """
        timezone: UTC
        wecom:
          token: first
          corp_id: c
          token: second
        """,
    )
    problem = _only_problem(path)
    assert (problem.line, problem.column) == (5, 3)
    assert problem.message.startswith("duplicate key")
    assert "token" in problem.message


def test_duplicate_key_message_is_readable(tmp_path: Path) -> None:
    """The message names the key cleanly (no dangling quote fragments from ruamel's wording)."""
    path = _write(tmp_path, "timezone: UTC\ntimezone: Asia/Tokyo\n")
    problem = _only_problem(path)
    assert re.fullmatch(r'duplicate key "?timezone"?', problem.message), problem.message


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a sentence\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    problem = _only_problem(path)
    assert (problem.line, problem.column) == (1, 1)
    assert "mapping" in problem.message


@pytest.mark.parametrize("text", ["", "# only comments\n\n"])
def test_empty_file_is_valid_and_all_defaults(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    config = load_config(path, environ={})
    assert config.timezone == "Asia/Shanghai"
    assert config.database_url == "sqlite:///groupbot.db"
    assert config.keywords == [] and config.commands == {}
    assert not config.wecom.callback_ready and not config.aibot.callback_ready
    assert config.texts.values == default_texts()


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    problem = _only_problem(path)
    assert (problem.file, problem.line, problem.column) == (str(path), 1, 1)
    assert "cannot read the file" in problem.message


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    problem = _only_problem(tmp_path)
    assert "cannot read the file" in problem.message


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    """A file saved in GBK by a Windows editor is reported, not a traceback."""
    path = tmp_path / "config.yaml"
    path.write_bytes("keywords:\n  - match: [发货]\n    reply: 好\n".encode("gbk"))
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(path) in str(info.value)


# ---------------------------------------------------------------- 4. semantic checks


def test_unknown_timezone(tmp_path: Path) -> None:
    path = _write(tmp_path, "database_url: sqlite:///x.db\ntimezone: Asia/Shangai\n")
    problem = _only_problem(path)
    assert (problem.line, problem.column, problem.path) == (2, 1, "timezone")
    assert "unknown time zone 'Asia/Shangai'" in problem.message


def test_timezone_is_used(tmp_path: Path) -> None:
    path = _write(tmp_path, "timezone: America/New_York\n")
    assert load_config(path, environ={}).zone.key == "America/New_York"


@pytest.mark.parametrize(
    "key",
    [
        factories.AIBOT_AES_KEY[:-1],  # 42 characters
        factories.AIBOT_AES_KEY + "A",  # 44 characters
        "!" * 43,  # right length, not base64
        factories.AIBOT_AES_KEY[:-1] + "=",  # padding inside the 43 characters
    ],
)
def test_bad_encoding_aes_key(tmp_path: Path, key: str) -> None:
    """An EncodingAESKey that is not 43 base64 characters is refused at its line, in either channel."""
    for section, line in (("aibot", 3), ("wecom", 3)):
        path = _write(tmp_path, f"timezone: UTC\n{section}:\n  encoding_aes_key: '{key}'\n  token: t\n")
        problem = _only_problem(path)
        assert (problem.line, problem.path) == (line, f"{section}.encoding_aes_key")
        assert "43 characters" in problem.message


def test_aes_key_message_keeps_the_console_spelling(tmp_path: Path) -> None:
    """Admins search the WeCom console for 'EncodingAESKey': the message must spell it that way."""
    path = _write(tmp_path, "aibot:\n  encoding_aes_key: short\n")
    assert "EncodingAESKey" in _only_problem(path).message


def test_good_aes_key_and_agent_id_as_number(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"wecom:\n  corp_id: c\n  agent_id: 1000002\n  token: t\n  encoding_aes_key: {factories.APP_AES_KEY}\n",
    )
    config = load_config(path, environ={})
    assert config.wecom.agent_id == "1000002"
    assert config.wecom.callback_ready


def test_wecom_transport_without_credentials_points_at_it(tmp_path: Path) -> None:
    """Delivering through WeCom without the app's corp_id and Secret is refused at load, not when the drainer starts."""
    path = _write(tmp_path, "timezone: UTC\nwecom:\n  corp_id: ww1\noutbox:\n  transport: wecom\n")
    problem = _only_problem(path)
    assert (problem.line, problem.path) == (5, "outbox.transport")
    assert "wecom.secret" in problem.message
    path = _write(tmp_path, "wecom:\n  corp_id: ww1\n  secret: s\noutbox:\n  transport: wecom\n")
    assert load_config(path, environ={}).outbox.transport == "wecom"


def test_unknown_text_key_points_at_it(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        texts:
          help_header: 你好
          help_heder: 拼错了
        """,
    )
    assert str(_only_problem(path)) == f"{path}:3:3: texts.help_heder: unknown text key"


def test_unknown_placeholder_points_at_that_text(tmp_path: Path) -> None:
    """A `{placeholder}` the bot cannot fill would crash at reply time; it is refused at load instead."""
    path = _write(
        tmp_path,
        """
        timezone: UTC
        texts:
          help_header: 看这里
          permission_denied: "{command} 需要 {role}，你是 {user}"
        """,
    )
    problem = _only_problem(path)
    assert (problem.line, problem.column, problem.path) == (4, 3, "texts.permission_denied")
    assert "unknown placeholder(s) user" in problem.message
    assert "{command}" in problem.message and "{role}" in problem.message


def test_text_overrides_apply_and_others_keep_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, 'texts:\n  permission_denied: "抱歉，{command} 仅限{role}"\n')
    texts = load_config(path, environ={}).texts
    assert texts.render("permission_denied", command="开团", role="导购") == "抱歉，开团 仅限导购"
    assert texts.values["help_header"] == default_texts()["help_header"]


def test_text_must_be_a_string(tmp_path: Path) -> None:
    path = _write(tmp_path, "texts:\n  help_footer: [a, b]\n")
    problem = _only_problem(path)
    assert (problem.line, problem.path) == (2, "texts.help_footer")


def test_unknown_command_name(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        commands:
          帮助:
            role: member
          签道:
            role: admin
        """,
    )
    with pytest.raises(ConfigError) as info:
        _shipped_loader()(path, environ={})
    [problem] = info.value.problems
    assert (problem.line, problem.column, problem.path) == (4, 3, "commands.签道")
    assert problem.message.startswith("unknown command (known: ") and "帮助" in problem.message


def _two_command_registry() -> Registry:
    registry = Registry()

    @registry.command("签到", aliases=["checkin"])
    def checkin(ctx: Any, args: str) -> str:
        """Check in for today."""
        return "ok"

    @registry.command("积分", aliases=["points"])
    def points(ctx: Any, args: str) -> str:
        """Show my points."""
        return "ok"

    return registry


def test_alias_clashing_with_another_command(tmp_path: Path) -> None:
    """Giving 积分 the alias 'CheckIn' (case-folded = 签到's alias) is an error at the clashing command."""
    path = _write(
        tmp_path,
        """
        timezone: UTC
        commands:
          签到:
            role: member
          积分:
            aliases: [points, CheckIn]
        """,
    )
    with pytest.raises(ConfigError) as info:
        config_loader(_two_command_registry())(path, environ={})
    [problem] = info.value.problems
    assert (problem.line, problem.column, problem.path) == (5, 3, "commands.积分")
    assert "'签到'" in problem.message and "'积分'" in problem.message


def test_rename_onto_another_command(tmp_path: Path) -> None:
    path = _write(tmp_path, "commands:\n  签到:\n    name: 积分\n")
    with pytest.raises(ConfigError) as info:
        config_loader(_two_command_registry())(path, environ={})
    [problem] = info.value.problems
    assert problem.path.startswith("commands.")
    assert "积分" in problem.message


def test_disabled_command_frees_its_words(tmp_path: Path) -> None:
    """Disabling 签到 lets 积分 take its alias: no clash, and the table maps it to 积分."""
    path = _write(tmp_path, "commands:\n  签到:\n    enabled: false\n  积分:\n    aliases: [checkin]\n")
    registry = _two_command_registry()
    config = config_loader(registry)(path, environ={})
    assert registry.command_table(config)["checkin"].spec.name == "积分"


def test_command_word_check_with_the_shipped_handlers(tmp_path: Path) -> None:
    """The example's renames pass against the real registry (帮助 answers to help, ?, 菜单)."""
    config = _shipped_loader()(EXAMPLE, environ={})
    table = load_handlers().command_table(config)
    assert {"帮助", "help", "?", "菜单"} <= set(table)


def test_database_url_env_overrides_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "database_url: sqlite:///from-file.db\n")
    assert load_config(path, environ={}).database_url == "sqlite:///from-file.db"
    override = "postgresql+psycopg://bot@db.internal/bot"
    assert load_config(path, environ={"GROUPBOT_DATABASE_URL": override}).database_url == override
    # An empty variable is "not set", not "use an empty URL".
    assert load_config(path, environ={"GROUPBOT_DATABASE_URL": ""}).database_url == "sqlite:///from-file.db"


# ---------------------------------------------------------------- 5. groupbot check-config


def test_check_config_ok_lists_channels_and_commands(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    path = write_yaml(tmp_path / "config.yaml", base_config("sqlite:///x.db"))
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}: OK" in result.stdout
    assert "app callback /wecom/callback: ready" in result.stdout
    assert "aibot callback /wecom/aibot: ready" in result.stdout
    assert "command 帮助" in result.stdout
    assert "keyword rules: 1" in result.stdout


def test_check_config_on_the_example_says_channels_are_off(clean_env: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(main, ["check-config", "--config", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "app callback /wecom/callback: not configured: answers 503" in result.stdout
    assert "aibot callback /wecom/aibot: not configured: answers 503" in result.stdout
    assert "command 帮助 (help, ?, 菜单): member" in result.stdout


def test_check_config_reads_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AIBOT_TOKEN", factories.AIBOT_TOKEN)
    clean_env.setenv("AIBOT_AES_KEY", factories.AIBOT_AES_KEY)
    clean_env.setenv("GROUPBOT_DATABASE_URL", "postgresql+psycopg://bot:hunter2@db.internal/bot")
    result = CliRunner().invoke(main, ["check-config", "--config", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "aibot callback /wecom/aibot: ready" in result.stdout
    assert "app callback /wecom/callback: not configured" in result.stdout
    assert "db.internal/bot" in result.stdout
    assert "hunter2" not in result.stdout  # the password is never printed


def test_check_config_bad_file_prints_every_problem_and_exits_2(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    path = _write(
        tmp_path,
        """
        timezone: UTC
        outbox:
          batch_size: many
        keywords:
          - match: [a]
            reply: fine
          - match: [b]
        colour: blue
        """,
    )
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 2
    assert "OK" not in result.stdout
    err_lines = result.stderr.splitlines()
    assert f"{path}:8:1: colour: unknown key" in err_lines
    assert f"{path}:7:5: keywords[1].reply: field required" in err_lines
    assert any(line.startswith(f"{path}:3:3: outbox.batch_size: ") for line in err_lines)
    assert len(err_lines) == 3


def test_check_config_syntax_error_exits_2(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "timezone: UTC\nwecom:\n  token: a\n  token: b\n")
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:4:3: duplicate key")


def test_check_config_missing_env_var_exits_2(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "aibot:\n  token: ${AIBOT_TOKEN}\n")
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:2:10: aibot.token: environment variable AIBOT_TOKEN is not set")


def test_check_config_missing_file_exits_2(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    path = tmp_path / "absent.yaml"
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:1:1: cannot read the file")


def test_check_config_uses_groupbot_config_env(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    """Without --config, $GROUPBOT_CONFIG names the file checked."""
    path = _write(tmp_path, "outbox:\n  batch_size: many\n")
    clean_env.setenv("GROUPBOT_CONFIG", str(path))
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}:2:3: outbox.batch_size: ")
