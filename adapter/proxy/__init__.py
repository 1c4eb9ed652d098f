"""gdwi proxy: the province's wire on both sides, with validation, journal and spec drift between.

For a hospital whose HIS already builds the XML itself: it points its province URL at the proxy
and changes nothing else. See docs/proxy.md.
"""

from adapter.proxy.config import Mode, ProxyConfig
from adapter.proxy.server import ProxyServer, create_proxy, serve

__all__ = ["Mode", "ProxyConfig", "ProxyServer", "create_proxy", "serve"]
