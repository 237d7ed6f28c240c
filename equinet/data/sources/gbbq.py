"""TDX's corporate-action file (T0002/hq_cache/gbbq, 股本变迁): decrypt and decode it into the ex-rights
actions (adjust.ex_rights_factor turns each into its exact back-adjustment factor).

Layout (public format notes: the csdn/sina posts pytdx cites): a uint32 record count, then 29-byte records whose
first 24 bytes are three 8-byte blocks of a Blowfish-style cipher with a fixed key schedule (18 P entries and four
256-entry S boxes, `gbbq.key`), the last 5 bytes plain. Cleartext: market uint8 (0 sz, 1 sh, 2 bj), code 7 bytes,
date uint32 YYYYMMDD, category uint8, four float32. Category 1 (除权除息) holds, per 10 shares: cash dividend
(yuan), rights-issue price, bonus + transfer shares, rights shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from equinet.core.findings import Finding

KEY = np.frombuffer((Path(__file__).with_name("gbbq.key")).read_bytes()[:4168], dtype="<u4")
P, S = KEY[:18], KEY[18:].reshape(4, 256)
RECORD = np.dtype([("market", "u1"), ("code", "S7"), ("date", "<u4"), ("category", "u1"), ("cash", "<f4"),
                   ("rights_price", "<f4"), ("bonus", "<f4"), ("rights", "<f4")])
SIZE = 29
EX_RIGHTS = 1


def _f(x: np.ndarray) -> np.ndarray:
    """The round function on uint32 halves, with uint32 wrap-around."""
    a, b, c, d = (x >> 24) & 0xFF, (x >> 16) & 0xFF, (x >> 8) & 0xFF, x & 0xFF
    return ((S[0][a] + S[1][b]) ^ S[2][c]) + S[3][d]


def decrypt(blocks: np.ndarray) -> np.ndarray:
    """blocks [n, 2] uint32 (little-endian halves of the 8-byte blocks) -> cleartext halves [n, 2]."""
    x, y = blocks[:, 0] ^ P[17], blocks[:, 1].copy()
    for i in range(16, 0, -1):
        x, y = y ^ _f(x) ^ P[i], x
    return np.column_stack([y ^ P[0], x])


def encrypt(blocks: np.ndarray) -> np.ndarray:
    """The inverse of decrypt, for synthetic gbbq files."""
    x, y = blocks[:, 1].copy(), blocks[:, 0] ^ P[0]
    for i in range(1, 17):
        x, y = y, x ^ _f(y) ^ P[i]
    return np.column_stack([x ^ P[17], y])


def read_gbbq(path: Path) -> tuple[np.ndarray | None, list[Finding]]:
    """Every record of the file, decrypted; a size that does not match its count is a finding, not a guess."""
    data = path.read_bytes()
    name = str(path)
    if len(data) < 4:
        return None, [Finding("error", name, "shorter than its 4-byte record count (truncated gbbq)")]
    count = int(np.frombuffer(data[:4], "<u4")[0])
    if len(data) != 4 + SIZE * count:
        return None, [Finding("error", name, f"{len(data)} bytes, but its header counts {count} records of {SIZE} "
                              f"bytes ({4 + SIZE * count} bytes): truncated or not a gbbq file",
                              row=(len(data) - 4) // SIZE + 1)]
    raw = np.frombuffer(data[4:], np.uint8).reshape(count, SIZE)
    clear = decrypt(raw[:, :24].copy().view("<u4").reshape(-1, 2)).astype("<u4")
    out = np.concatenate([clear.view(np.uint8).reshape(count, 24), raw[:, 24:]], axis=1)
    return out.copy().view(RECORD).reshape(count), []


def write_gbbq(path: Path, records: np.ndarray) -> None:
    """records of RECORD dtype -> an encrypted gbbq file (synthetic TDX trees)."""
    raw = np.ascontiguousarray(records, dtype=RECORD).view(np.uint8).reshape(len(records), SIZE)
    secret = encrypt(raw[:, :24].copy().view("<u4").reshape(-1, 2)).astype("<u4")
    body = np.concatenate([secret.view(np.uint8).reshape(len(records), 24), raw[:, 24:]], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.uint32(len(records)).tobytes() + body.tobytes())


def actions(records: np.ndarray) -> dict[str, list[dict]]:
    """The ex-rights events (category 1) by 6-digit code: date and the per-10-share amounts."""
    out: dict[str, list[dict]] = {}
    for r in records[records["category"] == EX_RIGHTS]:
        ymd = int(r["date"])
        out.setdefault(r["code"].decode("ascii", "replace").strip("\0"), []).append({
            "date": f"{ymd // 10000:04d}-{ymd // 100 % 100:02d}-{ymd % 100:02d}", "cash": float(r["cash"]),
            "rights_price": float(r["rights_price"]), "bonus": float(r["bonus"]), "rights": float(r["rights"])})
    return out
