"""Sans-I/O MQTT 3.1.1 and 5.0: packets, codec, properties and the client session.

Bytes in, events out; bytes out. Nothing here imports asyncio, socket, threading or a
clock: a transport feeds :meth:`ClientSession.receive_data` and writes what the session
returns, and keepalive decisions take ``now`` as an argument.
"""

from .codec import DEFAULT_MAX_PACKET_SIZE, Decoder, decode
from .encoder import encode, publish_prefix
from .events import (
    Connected,
    Event,
    MessageReceived,
    MessagesReceived,
    PongReceived,
    PubAckReceived,
    PubCompReceived,
    PubRecReceived,
    ServerDisconnected,
    Subscribed,
    Unsubscribed,
)
from .options import BrokerLimits, ConnectOptions
from .packet_type import PacketType
from .packets import (
    AckPacket,
    Auth,
    ConnAck,
    Connect,
    Disconnect,
    Packet,
    PingReq,
    PingResp,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
)
from .properties import NO_PROPERTIES, PROPERTY_TABLE, Properties, PropertySpec, PropertyType
from .reason_codes import ConnectReturnCode, ReasonCode, reason_code_name
from .session import ClientSession, InflightLimitError, PacketTooLargeError, SessionState
from .version import MQTTVersion

__all__ = [
    "DEFAULT_MAX_PACKET_SIZE",
    "NO_PROPERTIES",
    "PROPERTY_TABLE",
    "AckPacket",
    "Auth",
    "BrokerLimits",
    "ClientSession",
    "ConnAck",
    "Connect",
    "ConnectOptions",
    "ConnectReturnCode",
    "Connected",
    "Decoder",
    "Disconnect",
    "Event",
    "InflightLimitError",
    "MQTTVersion",
    "MessageReceived",
    "MessagesReceived",
    "Packet",
    "PacketTooLargeError",
    "PacketType",
    "PingReq",
    "PingResp",
    "PongReceived",
    "Properties",
    "PropertySpec",
    "PropertyType",
    "PubAck",
    "PubAckReceived",
    "PubComp",
    "PubCompReceived",
    "PubRec",
    "PubRecReceived",
    "PubRel",
    "Publish",
    "ReasonCode",
    "ServerDisconnected",
    "SessionState",
    "SubAck",
    "Subscribe",
    "Subscribed",
    "Subscription",
    "UnsubAck",
    "Unsubscribe",
    "Unsubscribed",
    "Will",
    "decode",
    "encode",
    "publish_prefix",
    "reason_code_name",
]
