"""Chat models: the ``ChatModel`` contract, ``OpenAIChat`` over the official ``openai``
client, the offline demo model and the stdlib OpenAI-compatible server behind it.

Importing this package does not import ``openai``: the client is built on first use.
"""

from .base import ChatModel, Messages, ModelConfigError, ModelError, ModelResponse, ModelStream
from .openai_chat import OpenAIChat

__all__ = ["ChatModel", "Messages", "ModelConfigError", "ModelError", "ModelResponse",
           "ModelStream", "OpenAIChat"]
