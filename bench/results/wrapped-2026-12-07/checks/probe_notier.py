from fakeprov import NoTools
from langchain_core.tools import tool

from llm_cost_hooks.langchain import RoutedChatModel


@tool
def get_weather(city: str) -> str:
    """Get the weather in a city."""
    return "sunny"


r = RoutedChatModel(tiers={"small": NoTools(model_name="gpt-4o-mini"), "large": NoTools(model_name="gpt-4o")})
try:
    r.bind_tools([get_weather]).invoke("w?")
except Exception as e:
    print(type(e).__module__, type(e).__name__, str(e)[:500])
