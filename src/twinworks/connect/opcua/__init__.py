"""OPC UA: the connector, and browsing a server's address space to find node ids."""

from twinworks.connect.opcua.connector import OpcUaConnector

__all__ = ["OpcUaConnector"]
