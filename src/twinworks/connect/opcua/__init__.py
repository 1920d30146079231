"""OPC UA: the connector, and browsing a server's address space to find node ids.

* :class:`OpcUaConnector` — subscriptions in, typed writes and method calls out
  (``connector.py``; value conversion in ``values.py``, node ids against a live
  server in ``nodes.py``, why a connection failed in ``diagnose.py``);
* :func:`browse` — the address space below a node (``browse.py``);
* :func:`scaffold_definition` — a first twin definition for one object (``scaffold.py``).
"""

from twinworks.connect.opcua.browse import BrowsedNode, browse
from twinworks.connect.opcua.connector import OpcUaConnector
from twinworks.connect.opcua.scaffold import scaffold_definition

__all__ = ["BrowsedNode", "OpcUaConnector", "browse", "scaffold_definition"]
