"""Where a GRVT venue lives: its three hosts (edge for login, trades, market data) and the chain id
its orders are signed for, from the one URL a venue config carries.

The real environments are named by their public URL (``https://grvt.io``, ``https://testnet.grvt.io``,
...); any other URL is a GRVT-speaking server (``perpflow sim``) that serves the three hosts under
path prefixes of one base, and names its chain id in the query (``?chain_id=326``; testnet's by
default).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

from pysdk.grvt_raw_env import GrvtEnv, get_env_config
from pysdk.grvt_raw_signing import CHAIN_IDS

# The public URL that names each environment.
ENVIRONMENTS = {
    "https://grvt.io": GrvtEnv.PROD,
    "https://testnet.grvt.io": GrvtEnv.TESTNET,
    "https://staging.gravitymarkets.io": GrvtEnv.STAGING,
    "https://dev.gravitymarkets.io": GrvtEnv.DEV,
}
# Path prefixes of a single-base server (grvt-api.md §2: the SDK concatenates, so any prefix works).
EDGE_PATH, TRADES_PATH, MARKET_DATA_PATH = "/edge", "/td", "/md"
DEFAULT_CHAIN_ID = CHAIN_IDS[GrvtEnv.TESTNET]


@dataclass(frozen=True)
class Endpoints:
    edge: str
    trades: str
    market_data: str
    chain_id: int

    @property
    def trades_ws(self) -> str:
        return _ws(self.trades) + "/ws/full"

    @property
    def market_data_ws(self) -> str:
        return _ws(self.market_data) + "/ws/full"


def _ws(url: str) -> str:
    return url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)


def endpoints(url: str) -> Endpoints:
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
    env = ENVIRONMENTS.get(base)
    if env is not None:
        cfg = get_env_config(env)
        # Signing uses grvt_raw_signing's table (staging 327); get_env_config says 328 for it.
        return Endpoints(
            cfg.edge.rpc_endpoint, cfg.trade_data.rpc_endpoint, cfg.market_data.rpc_endpoint, CHAIN_IDS[env]
        )
    chain = parse_qs(parts.query).get("chain_id")
    return Endpoints(
        edge=base + EDGE_PATH,
        trades=base + TRADES_PATH,
        market_data=base + MARKET_DATA_PATH,
        chain_id=int(chain[0]) if chain else DEFAULT_CHAIN_ID,
    )
