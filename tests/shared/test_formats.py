"""Native formats: the exact bytes each serializer writes, read back by the program that would read
them (tomllib, configparser, javaproperties, sh, python-dotenv), and every config a format cannot hold refused
with its path."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import tomllib
from pathlib import Path

import javaproperties
import pytest

from hotswap_cli.bounded_yaml import DataLimitError
from hotswap_cli.formats import (
    CONTENT_TYPES,
    FORMATS,
    STRUCTURED_FORMATS,
    Unrepresentable,
    encode,
    format_for,
    parse_as,
)

APP = {
    "service": {"name": "billing api", "owner": "Zoë Müller", "debug": False, "workers": 4, "timeout_s": 2.5},
    "database": {"url": "postgres://app@db:5432/billing", "password": 'p@ss "w=rd" #1 $HOME',
                 "pool": {"min": 2, "max": 20}},
    "server": {"ports": [8080, 8443], "greeting": "héllo, wörld ✓", "banner": " padded: a=b ! "},
}

TOML = '''\
[service]
name = "billing api"
owner = "Zoë Müller"
debug = false
workers = 4
timeout_s = 2.5

[database]
url = "postgres://app@db:5432/billing"
password = "p@ss \\"w=rd\\" #1 $HOME"

[database.pool]
min = 2
max = 20

[server]
ports = [
    8080,
    8443,
]
greeting = "héllo, wörld ✓"
banner = " padded: a=b ! "
'''

PROPERTIES = '''\
service.name=billing api
service.owner=Zo\\u00eb M\\u00fcller
service.debug=false
service.workers=4
service.timeout_s=2.5
database.url=postgres\\://app@db\\:5432/billing
database.password=p@ss "w\\=rd" \\#1 $HOME
database.pool.min=2
database.pool.max=20
server.ports[0]=8080
server.ports[1]=8443
server.greeting=h\\u00e9llo, w\\u00f6rld \\u2713
server.banner=\\ padded\\: a\\=b \\!\x20
'''

PROPERTIES_READ = {
    "service.name": "billing api", "service.owner": "Zoë Müller", "service.debug": "false",
    "service.workers": "4", "service.timeout_s": "2.5", "database.url": "postgres://app@db:5432/billing",
    "database.password": 'p@ss "w=rd" #1 $HOME', "database.pool.min": "2", "database.pool.max": "20",
    "server.ports[0]": "8080", "server.ports[1]": "8443", "server.greeting": "héllo, wörld ✓",
    "server.banner": " padded: a=b ! ",
}

INI_CONFIG = {
    "DEFAULT": {"log_level": "info"},
    "server": {"host": "0.0.0.0", "port": 8080, "tls": True, "ratio": 0.75,
               "Banner": 'Welcome "ops" #1; cost=$5 ✓', "path": "C:\\srv\\app", "empty": ""},
    "database": {"url": "postgres://app@db/billing", "password": "s3cr%t=x"},
}

INI = '''\
[DEFAULT]
log_level = info

[server]
host = 0.0.0.0
port = 8080
tls = true
ratio = 0.75
Banner = Welcome "ops" #1; cost=$5 ✓
path = C:\\srv\\app
empty =\x20

[database]
url = postgres://app@db/billing
password = s3cr%t=x
'''

ENV_CONFIG = {
    "APP_ENV": "production", "PORT": 8080, "DEBUG": False, "RATIO": 0.5,
    "DATABASE_URL": "postgres://app@db:5432/billing?sslmode=require", "GREETING": "hello wörld ✓",
    "PRICE": "costs $5 `now` #1 a=b", "QUOTED": "it's \"quoted\" \\ $HOME `x`", "MULTI": "line1\nline2",
    "EMPTY": "", "_private": "x",
}

ENV = '''\
APP_ENV=production
PORT=8080
DEBUG=false
RATIO=0.5
DATABASE_URL='postgres://app@db:5432/billing?sslmode=require'
GREETING='hello wörld ✓'
PRICE='costs $5 `now` #1 a=b'
QUOTED="it's \\"quoted\\" \\\\ \\$HOME \\`x\\`"
MULTI='line1
line2'
EMPTY=
_private=x
'''

ENV_READ = {k: ("false" if v is False else str(v)) for k, v in ENV_CONFIG.items()}

NGINX = "events {}\nhttp {\n  server { listen 8080; return 200 'ok ✓'; }\n}\n"

EXPECTED = [
    ("toml", APP, TOML),
    ("properties", APP, PROPERTIES),
    ("ini", INI_CONFIG, INI),
    ("env", ENV_CONFIG, ENV),
    ("text", NGINX, NGINX),
]


@pytest.mark.parametrize(("fmt", "config", "text"), EXPECTED, ids=[row[0] for row in EXPECTED])
def test_encode_writes_the_exact_bytes_every_time(fmt: str, config: object, text: str) -> None:
    first = encode(config, fmt)
    assert first == text.encode("utf-8")
    assert encode(config, fmt) == first


def test_every_format_has_an_encoder_and_a_content_type() -> None:
    assert set(CONTENT_TYPES) == set(FORMATS)
    assert CONTENT_TYPES["toml"] == "application/toml"
    assert CONTENT_TYPES["env"] == "text/plain; charset=utf-8"
    for fmt in FORMATS:
        assert encode("x" if fmt == "text" else {"a": {"b": "c"}} if fmt == "ini" else {"a": "c"}, fmt)


def test_toml_reads_back_with_tomllib() -> None:
    assert tomllib.loads(encode(APP, "toml").decode("utf-8")) == APP
    assert parse_as(encode(APP, "toml"), "toml") == APP


def test_ini_reads_back_with_configparser() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(encode(INI_CONFIG, "ini").decode("utf-8"))
    assert parser.sections() == ["server", "database"]
    assert parser.defaults() == {"log_level": "info"}
    assert {k: v for k, v in parser["server"].items() if k != "log_level"} == {
        "host": "0.0.0.0", "port": "8080", "tls": "true", "ratio": "0.75", "Banner": 'Welcome "ops" #1; cost=$5 ✓',
        "path": "C:\\srv\\app", "empty": ""}
    assert parser.getboolean("server", "tls") is True
    assert parser.getint("server", "port") == 8080
    assert parser["database"]["password"] == "s3cr%t=x"


def test_properties_read_back_with_javaproperties() -> None:
    assert javaproperties.loads(encode(APP, "properties").decode("latin-1")) == PROPERTIES_READ


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_env_reads_back_in_a_real_shell(tmp_path: Path, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell}")
    (tmp_path / "app.env").write_bytes(encode(ENV_CONFIG, "env"))
    dump = " ".join(f'"${key}"' for key in ENV_CONFIG)
    out = subprocess.run(["env", "-i", "HOME=/nonexistent", shell, "-c", f". ./app.env && printf '%s\\0' {dump}"],
                         cwd=tmp_path, capture_output=True, check=True, timeout=10).stdout.decode("utf-8")
    assert dict(zip(ENV_CONFIG, out.split("\0")[:-1], strict=True)) == ENV_READ


def test_env_reads_back_with_python_dotenv_but_for_escapes_in_double_quotes() -> None:
    import io

    import dotenv

    read = dotenv.dotenv_values(stream=io.StringIO(encode(ENV_CONFIG, "env").decode("utf-8")), interpolate=False)
    # Only a value holding ' or \ is double-quoted; python-dotenv keeps the backslash before $ and `.
    assert read.pop("QUOTED") == "it's \"quoted\" \\ \\$HOME \\`x\\`"
    assert read == {k: v for k, v in ENV_READ.items() if k != "QUOTED"}


def test_text_is_the_string_s_utf8_bytes() -> None:
    assert encode("a\r\nb ✓", "text") == "a\r\nb ✓".encode()
    assert encode("", "text") == b""


def test_empty_mappings_write_empty_files() -> None:
    for fmt in ("toml", "ini", "properties", "env"):
        assert encode({}, fmt) == b""


REFUSED = [
    # toml
    ("toml", ["a"], (), "toml needs a mapping at the top level, not a list"),
    ("toml", "x", (), "toml needs a mapping at the top level, not a string"),
    ("toml", {"server": {"ports": [80, None]}}, ("server", "ports", 1), "toml cannot hold null"),
    ("toml", {"a": None}, ("a",), "toml cannot hold null (TOML has no null; leave the key out)"),
    # ini
    ("ini", [{"a": 1}], (), "ini needs a mapping of sections at the top level, not a list"),
    ("ini", {"port": 8080}, ("port",), "ini cannot hold a number at the top level"),
    ("ini", {"server": {"ports": [80]}}, ("server", "ports"),
     "ini cannot hold a list (sections hold key = value pairs)"),
    ("ini", {"server": {"tls": {"on": True}}}, ("server", "tls"), "ini cannot hold a mapping"),
    ("ini", {"server": {"host": None}}, ("server", "host"), "ini cannot hold null"),
    ("ini", {"server": {"motd": "a\nb"}}, ("server", "motd"), "ini cannot hold a line break in a value"),
    ("ini", {"server": {"motd": " a"}}, ("server", "motd"), "ini cannot hold spaces around a value"),
    ("ini", {"a]b": {}}, ("a]b",), "ini cannot hold the section name 'a]b'"),
    ("ini", {"s": {"a=b": 1}}, ("s", "a=b"), "ini cannot hold the key name 'a=b'"),
    ("ini", {"s": {"a:b": 1}}, ("s", "a:b"), "ini cannot hold the key name 'a:b'"),
    ("ini", {"s": {"a\nb": 1}}, ("s", "a\nb"), "ini cannot hold the key name"),
    ("ini", {"s": {"#k": 1}}, ("s", "#k"), "ini cannot hold the key name '#k'"),
    ("ini", {"s": {";k": 1}}, ("s", ";k"), "ini cannot hold the key name ';k'"),
    ("ini", {"s": {"[k": 1}}, ("s", "[k"), "ini cannot hold the key name '[k'"),
    ("ini", {"s": {" k": 1}}, ("s", " k"), "ini cannot hold spaces around the key name ' k'"),
    ("ini", {"": {}}, ("",), "ini needs a non-empty section name"),
    # properties
    ("properties", ["a"], (), "properties needs a mapping at the top level, not a list"),
    ("properties", {"server": {"host": None}}, ("server", "host"), "properties cannot hold null"),
    ("properties", {"server": {"ports": []}}, ("server", "ports"), "properties cannot hold an empty list"),
    ("properties", {"server": {}}, ("server",), "properties cannot hold an empty mapping"),
    ("properties", {"a.b": 1, "a": {"b": 2}}, ("a", "b"),
     "properties would write the key 'a.b' twice (also from $['a.b'])"),
    ("properties", {"a": {"": 1}}, ("a", ""), "properties cannot hold an empty key"),
    # env
    ("env", "x", (), "env needs a mapping at the top level, not a string"),
    ("env", {"DB": {"HOST": "x"}}, ("DB",), "env cannot hold a mapping (an environment holds flat KEY=value pairs)"),
    ("env", {"HOSTS": ["a", "b"]}, ("HOSTS",), "env cannot hold a list"),
    ("env", {"TOKEN": None}, ("TOKEN",), "env cannot hold null"),
    ("env", {"1ST": "x"}, ("1ST",), "env cannot hold the name '1ST'"),
    ("env", {"MY-VAR": "x"}, ("MY-VAR",), "env cannot hold the name 'MY-VAR'"),
    ("env", {"NAÏVE": "x"}, ("NAÏVE",), "env cannot hold the name 'NAÏVE'"),
    ("env", {"A": "x\0y"}, ("A",), "env cannot hold a NUL character"),
    # text
    ("text", {"a": 1}, (), "text needs the config to be a string, not a mapping; "
                           "use a template to turn a mapping into text"),
    ("text", None, (), "text needs the config to be a string, not null"),
    # any
    ("json", "\ud800", (), "json needs valid Unicode text"),
]


@pytest.mark.parametrize(("fmt", "config", "path", "reason"), REFUSED,
                         ids=[f"{fmt}-{i}" for i, (fmt, *_) in enumerate(REFUSED)])
def test_encode_refuses_what_the_format_cannot_hold(fmt: str, config: object, path: tuple[str | int, ...],
                                                    reason: str) -> None:
    with pytest.raises(Unrepresentable) as caught:
        encode(config, fmt)
    assert caught.value.path == path
    assert caught.value.reason.startswith(reason)
    assert isinstance(caught.value, ValueError)


def test_refusal_message_names_the_path() -> None:
    with pytest.raises(Unrepresentable, match=r"^\$\.server\.ports: ini cannot hold a list \(sections hold key = "
                                              r"value pairs\)$"):
        encode({"server": {"ports": [8080]}}, "ini")
    with pytest.raises(Unrepresentable, match=r"^\$\.server\.ports\[1\]: toml cannot hold null"):
        encode({"server": {"ports": [80, None]}}, "toml")


def test_encode_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        encode({}, "xml")


@pytest.mark.parametrize(("location", "explicit", "fmt"), [
    ("/etc/app/config.yaml", None, "yaml"),
    ("/etc/app/config.yml", None, "yaml"),
    ("/etc/app/config.toml", None, "toml"),
    ("/etc/app/app.ini", None, "ini"),
    ("/srv/app/application.properties", None, "properties"),
    ("/srv/app/.env", None, "env"),
    ("/etc/default/app.env", None, "env"),
    ("https://cfg.example/app/config", None, "json"),
    ("/etc/nginx/nginx.conf", None, "json"),
    ("/etc/nginx/nginx.conf", "text", "text"),
    ("/etc/app/config.yaml", "toml", "toml"),
])
def test_format_for_guesses_from_the_suffix(location: str, explicit: str | None, fmt: str) -> None:
    assert format_for(location, explicit) == fmt


def test_parse_as_reads_structured_formats_and_leaves_the_rest_to_bytes() -> None:
    assert STRUCTURED_FORMATS == ("json", "yaml", "toml")
    assert parse_as(b'{"a": [1, 2]}', "json") == {"a": [1, 2]}
    assert parse_as(b"a:\n  - 1\n  - 2\nd: 2024-01-02\n", "yaml") == {"a": [1, 2], "d": "2024-01-02"}
    assert parse_as(b'a = [1, 2]\n[b]\nc = "x"\n', "toml") == {"a": [1, 2], "b": {"c": "x"}}
    for fmt, config in (("ini", INI_CONFIG), ("properties", APP), ("env", ENV_CONFIG), ("text", NGINX)):
        assert parse_as(encode(config, fmt), fmt) is None


def test_parse_as_reads_toml_dates_as_text() -> None:
    assert parse_as(b"d = 2024-01-02\nt = 07:32:00\nat = [1979-05-27T07:32:00Z]\n", "toml") == {
        "d": "2024-01-02", "t": "07:32:00", "at": ["1979-05-27T07:32:00+00:00"]}


def test_parse_as_refuses_bad_or_too_deep_toml() -> None:
    with pytest.raises(ValueError, match="^not TOML: "):
        parse_as(b"a = [1,\n", "toml")
    with pytest.raises(ValueError, match="^not TOML: not UTF-8 text$"):
        parse_as(b"a = '\xff'\n", "toml")
    with pytest.raises(DataLimitError, match="nested deeper than 100 levels"):
        parse_as(b"a = " + b"[" * 150 + b"]" * 150 + b"\n", "toml")
    with pytest.raises(DataLimitError, match="nested deeper than 100 levels"):
        parse_as(b"a = " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "toml")
    with pytest.raises(DataLimitError, match="nested deeper than 100 levels"):
        parse_as(b"[" + b".".join(b"k%d" % i for i in range(150)) + b"]\n", "toml")


@pytest.mark.parametrize("text", [
    "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: shop\n"
    "    static_configs: [{targets: ['a:9100']}]\n",
    "when: 2024-05-01\nport: 8080\nratio: 0.5\non: yes\nnothing: ~\n",
    "a: 1\na: 2\n",  # a duplicate: the full path, last one wins as before
    "base: &b {x: 1}\nother: *b\n",  # an alias: the full path
    "1: one\n",  # a key that is not text: the full path
])
def test_an_instance_s_yaml_reads_as_compose_yaml_and_text_dates_read_it(text: str) -> None:
    from hotswap_cli.bounded_yaml import compose_yaml, text_dates
    from hotswap_cli.formats import parse_config_bytes

    node = compose_yaml(text)
    assert repr(parse_config_bytes(text.encode())) == repr(text_dates().construct_document(node))


def test_an_instance_s_yaml_alias_bomb_is_still_refused() -> None:
    from hotswap_cli.bounded_yaml import DataLimitError
    from hotswap_cli.formats import parse_config_bytes

    bomb = "a: &a [" + ",".join(["x" * 100] * 100) + "]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(5))
    with pytest.raises(DataLimitError, match="aliases expand"):
        parse_config_bytes(bomb.encode())
