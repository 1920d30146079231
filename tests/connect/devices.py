"""Simulated MQTT devices for the connector tests: real paho clients on a real broker."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["MqttDevice"]


class MqttDevice:
    """Publishes telemetry and answers commands the way a device on the plant floor would.

    ``answer`` decides the reply to a command: "ok", "refuse" or "ignore" (never replies).
    """

    def __init__(
        self,
        port: int,
        client_id: str,
        *,
        version: str = "5",
        persistent: bool = False,
        command_topic: str | None = None,
        answer: str = "ok",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.v5 = version == "5"
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if self.v5 else paho.MQTTv311,
            clean_session=None if self.v5 else not persistent,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(0)  # no limit: the tests publish bursts
        self.client.max_queued_messages_set(0)
        self.port = port
        self.persistent = persistent
        self.command_topic = command_topic
        self.answer = answer
        self.commands: list[dict[str, Any]] = []
        self.command_props: list[Any] = []
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self.connected.set()
        self.client.on_message = self._on_message

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if self.command_topic is not None:
            client.subscribe(self.command_topic, qos=1)  # ready once the broker confirms
        else:
            self.connected.set()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        request = json.loads(msg.payload)
        self.commands.append(request)
        self.command_props.append(getattr(msg, "properties", None))
        if self.answer == "ignore":
            return
        reply = {"id": request["id"], "ok": self.answer == "ok"}
        if self.answer == "ok":
            reply["result"] = f"did {request['name']}"
        else:
            reply["error"] = "interlock open"
        props = None
        reply_topic = request.get("reply_to")
        in_props = getattr(msg, "properties", None)
        if self.v5 and in_props is not None and getattr(in_props, "ResponseTopic", None):
            reply_topic = in_props.ResponseTopic
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = in_props.CorrelationData
            reply.pop("id")  # MQTT 5 correlates by the property alone
        client.publish(reply_topic, json.dumps(reply), qos=1, properties=props)

    def start(self) -> MqttDevice:
        props = None
        kwargs: dict[str, Any] = {}
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600 if self.persistent else 0
            kwargs["clean_start"] = not self.persistent
        self.client.connect("127.0.0.1", self.port, 30, properties=props, **kwargs)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise RuntimeError("device did not connect")
        return self

    def publish(
        self, topic: str, payload: Any, qos: int = 1, retain: bool = False
    ) -> paho.MQTTMessageInfo:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.client.publish(topic, data, qos=qos, retain=retain)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> MqttDevice:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_published(infos: list[paho.MQTTMessageInfo], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    for info in infos:
        while not info.is_published():
            if time.monotonic() > deadline:
                raise AssertionError("the broker did not confirm every publish in time")
            time.sleep(0.005)
