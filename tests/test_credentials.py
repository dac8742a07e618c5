"""Credentials in ``{name}`` (issue 15, point 3): refused when any text in the value looks
like one, not only what its rendering shows; ordinary values are sent.

Each refused case runs through ``%%agent``: a ``UsageError`` that says what and where
(never the text), nothing reaches the model server, nothing is stored, and the cell,
the user's message, is left as it was. Before, 4 of 7 such values were sent and a
DataFrame cell sent 15 characters of a key.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from jupyter_agentmem.notebook.context import interpolate
from jupyter_agentmem.notebook.credentials import (
    find_credential,
    is_placeholder,
    secret_name,
    text_credential,
)
from jupyter_agentmem.store import DuckDbStore

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS's documented example
AWS_SECRET_2 = "Xq9+Lm2/Zr7Kp4Tn8Vb3Wc6Yd1Hf5Gj0Sa2Qe4Ru"
HEX_32 = "a3f9c2e87b1d4f60e5c9b2a7d8f31e04"
HEX_64 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFuYSJ9."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7xQ3bYk2Z9pLmN4rT8vW1cX6dF0gH\n"
       "-----END RSA PRIVATE KEY-----\n")
OPENAI = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUvWx"
GITHUB = "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7"
TOKEN = "Zx8Qw2Lr7Np4Ks9Hv3Bt6Ym1Jd5Gf0CaT"  # no known prefix: high entropy
PASSWORD = "hunter2!x"


def frame_with(cell: str, row: int = 700, rows: int = 1000) -> pd.DataFrame:
    text = ["ordinary"] * rows
    text[row] = cell
    return pd.DataFrame({"n": np.arange(rows), "v": text})


# (value, words the error must hold, secret text the error must not hold)
REFUSED = {
    "dict value under password": (
        {"user": "ana", "password": PASSWORD},
        ["['password']", "a secret (under 'password', 9 characters"], PASSWORD),
    "nested aws secret key": ({"aws": {"region": "eu-west-1", "secret": AWS_SECRET}},
                              ["['aws']['secret']"], AWS_SECRET),
    "aws secret key in prose": (f"the key is {AWS_SECRET_2} ok", ["AWS secret access key"],
                                AWS_SECRET_2),
    "aws secret key in a list": (["a", AWS_SECRET], ["[1]", "AWS secret access key"],
                                 AWS_SECRET),
    "32 hex key in a tuple": (("id", HEX_32), ["32-character hex key"], HEX_32),
    "64 hex key": ({"config": {"signing": HEX_64}}, ["64-character hex key"], HEX_64),
    "jwt": (["Bearer " + JWT], ["JWT"], JWT[40:80]),
    "pem private key": (PEM, ["PEM private key block"], "MIIEpAIBAAKCAQEA"),
    "openssh private key": ({"key_file": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNz\n"},
                            ["PEM private key block"], "b3BlbnNz"),
    "url with a password": ("postgresql://ana:S3cretPassw0rd@db.example.com/prod",
                            ["URL with a password"], "S3cretPassw0rd"),
    "url with only a password": ({"cache": "redis://:pw-9xq@cache:6379/0"},
                                 ["URL with a password"], "pw-9xq"),
    "key split across list items": (["sk-proj-Ab3dEf", "6hIj9kLm2nOp5q", "Rs8tUvWx"],
                                    ["split across items", "[0:3]"], "6hIj9kLm2nOp5q"),
    "hex key split across items": ([HEX_64[i:i + 8] for i in range(0, 64, 8)],
                                   ["split across items", "hex key"], HEX_64[8:16]),
    "dataframe cell the rendering does not show": (
        frame_with(OPENAI), ["column 'v', row 700", "API key"], OPENAI),
    "dataframe cell the rendering cuts": (  # 37 characters shown: no longer key-shaped
        frame_with(AWS_SECRET, row=2, rows=5), ["column 'v', row 2"], AWS_SECRET[:20]),
    "shown cell of a frame whose first column fills the cap": (  # read row by row
        pd.DataFrame({"big": ["y" * 5000] * 1000, "v": ["a", "b", "c", OPENAI] + ["d"] * 996}),
        ["column 'v', row 3", "API key"], OPENAI),
    "dataframe column named password": (
        pd.DataFrame({"user": ["ana", "bob"], "password": ["", "letmein"]}),
        ["column 'password', row 1", "in column 'password'"], "letmein"),
    "dataframe object cell holding a dict": (
        pd.DataFrame({"cfg": [{"a": 1}, {"api_key": "abc123"}]}), ["'api_key'"], "abc123"),
    "series value": (pd.Series(["x"] * 300 + [GITHUB]), ["its row 300 looks like an API key"],
                     GITHUB),
    "numpy array of text": (np.array(["a", "b", TOKEN]), ["[2]", "API key"], TOKEN),
    "bytes": (b"header " + OPENAI.encode(), ["API key"], OPENAI),
    "bytes under token": ({"token": b"raw-bytes-value"}, ["['token']"], "raw-bytes-value"),
    "set item": ({"x", GITHUB}, ["API key"], GITHUB),
    "pair naming its value": ([("password", PASSWORD)], ["[0][1]", "paired with 'password'"],
                              PASSWORD),
    "item 60 of a list the rendering stops at 50": (["word"] * 60 + [OPENAI],
                                                    ["[60]", "API key"], OPENAI),
    "camel case name": ({"clientSecret": "abc"}, ["'clientSecret'"], None),
    "assignment in code": ('db = connect(host="h", password="S3cret!")\n',
                           ["assigned to 'password'"], "S3cret!"),
    "env file line": ("DEBUG=1\nSTRIPE_API_KEY='rk_live_51Hx'\n", ["STRIPE_API_KEY"],
                      "rk_live_51Hx"),
    "object whose repr shows a key": (
        type("Conn", (), {"__repr__": lambda self: f"Conn(token={GITHUB!r})"})(),
        ["API key"], GITHUB),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_credential_anywhere_in_the_value_is_refused(shell, server, db_path, case):
    value, words, secret = REFUSED[case]
    shell.user_ns["cfg"] = value
    server.reset()
    with pytest.raises(UsageError) as info:
        shell.run_cell_magic("agent", "session=sec", "Look at {cfg} please")
    message = str(info.value)
    assert message.startswith("{cfg} was not sent: ")
    assert "Nothing was sent" in message and "context=off" in message
    for word in words:
        assert word in message, message
    if secret is not None:
        assert secret not in message
    assert server.requests == []
    store = DuckDbStore(db_path)
    assert store.list_sessions() == []
    store.close()
    # The same cell with context=off is sent as written: the message was not lost.
    with capture_output():
        shell.run_cell_magic("agent", "session=sec context=off", "Look at {cfg} please")
    assert server.of("chat")[-1]["messages"][-1]["content"] == "Look at {cfg} please"


SENT = {
    "git short shas": ["a1b2c3d", "9fceb02d0ae5", "e83c5163316f"],
    "git log": "commit 9fceb02d0ae598e95dc970b74767f19372d61af8\nAuthor: Ana",
    "uuids": ["3f2b8c1e-9d4a-4e7b-8c2d-1a2b3c4d5e6f", "123e4567-e89b-12d3-a456-426614174000"],
    "labelled sha256": "image@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b",
    "mongodb object id": {"_id": "507f1f77bcf86cd799439011"},
    "prose": "The quick brown fox jumps over the lazy dog. Keys and tokens are discussed here.",
    "numbers": [12345678901234567890123456789012345, "98765432109876543210987654321098", 3.5],
    "paths": ["/home/user/projects/MyProject2/src/module/file.py",
              "Users/Ana/Documents/Notebooks2024/drafts", "C:\\Users\\Ana\\data.csv"],
    "ordinary config": {"sort_key": "created_at", "max_tokens": 100, "token_type": "Bearer",
                        "next_page_token": "CAEQAA", "key": "user_id", "auth": "basic",
                        "password_min_length": 12, "secret_santa": "Ana"},
    "placeholders": {"password": "***", "api_key": "<your key>", "token": "${TOKEN}",
                     "secret": "", "client_secret": "YOUR_CLIENT_SECRET", "pwd": None},
    "urls without a real password": ["postgresql://ai:***@localhost:5532/ai",
                                     "postgresql://user:<password>@host/db",
                                     "https://example.com/a:b@c", "http://user@host/"],
    "code that reads a secret": "token = os.environ['TOKEN']\npassword = getpass()\n",
    "words in a list": "the quick brown fox jumps over the lazy dog again".split(),
    "column names": [f"col{i}" for i in range(30)],
    "a certificate is public": "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n",
    "dataframe of short shas": pd.DataFrame({"sha": ["a1b2c3d", "9fceb02"], "n": [1, 2]}),
    "a million-row frame": pd.DataFrame({"a": np.arange(1_000_000), "b": "text"}),
}


@pytest.mark.parametrize("case", list(SENT))
def test_ordinary_values_are_sent(case):
    value = SENT[case]
    assert find_credential(value) is None
    assert interpolate("{v}", {"v": value}, 4000)  # nothing raised


def test_names_and_placeholders():
    assert [secret_name(n) for n in ("password", "db_password", "apiKey", "aws_secret_access_key",
                                     "access_token", "key", "sort_key", "max_tokens",
                                     "next_page_token", "token_type")] == [
        "strong", "strong", "strong", "strong", "strong", "weak", "weak", None, None, None]
    assert all(is_placeholder(v) for v in ("***", "<key>", "${X}", "%s", "xxxx", "None", ""))
    assert not any(is_placeholder(v) for v in (PASSWORD, "letmein", "ai", HEX_32))
    assert text_credential("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def test_the_scan_of_a_huge_value_is_capped():
    from jupyter_agentmem.notebook import credentials

    # A key past the cap is not looked for (what is sent is scanned whole anyway).
    many = ["word"] * (credentials.MAX_SCAN_LEAVES + 10) + [OPENAI]
    assert find_credential(many) is None
    assert find_credential(many[-5:]) is not None
    long_text = "a " * credentials.MAX_SCAN_CHARS + OPENAI
    assert find_credential(long_text) is None
    assert find_credential(long_text[-100:]) is not None
