"""Send llm-cost-hooks cost spans of a LangChain chain to a local Arize Phoenix.

    phoenix serve                                   # in Phoenix's own virtualenv (see README.md)
    python integrations/phoenix/send_to_phoenix.py  # then open http://localhost:6006

Phoenix reads the spans' OpenTelemetry GenAI attributes (gen_ai.*) as LLM spans (model,
token counts); the dollars llm-cost-hooks priced ride along as ``llm_cost_hooks.*``
attributes. Needs ``pip install 'llm-cost-hooks[otlp]'``; no provider, no key.
"""

from __future__ import annotations

import argparse
import os

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from llm_cost_hooks.langchain import CostCallbackHandler, FakeChatModelWithUsage
from llm_cost_hooks.telemetry import OTelObserver, configure_otel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=os.environ.get("PHOENIX_ENDPOINT", "http://localhost:6006"),
                        help="Phoenix's HTTP address (OTLP/HTTP is served at /v1/traces on it)")
    parser.add_argument("--project", default="llm-cost-hooks", help="Phoenix project the spans land in")
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args(argv)

    tracer_provider, meter_provider = configure_otel(
        "llm-cost-hooks-example", exporter="otlp", endpoint=args.endpoint, protocol="http/protobuf",
        metrics=False,  # Phoenix collects traces only
        resource_attributes={"openinference.project.name": args.project})
    handler = CostCallbackHandler(ledger="memory://", observers=[
        OTelObserver(tracer_provider=tracer_provider, meter_provider=meter_provider)])
    llm = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["Your card arrives in 3-5 working days."])
    chain = ChatPromptTemplate.from_messages([("system", "You are ACME's support bot."), ("human", "{q}")]) \
        | llm | StrOutputParser()
    for i in range(args.calls):
        chain.invoke({"q": f"When will my card arrive? ({i})"}, config={
            "callbacks": [handler], "metadata": {"tenant_id": "acme", "feature": "support", "task_id": f"ticket-{i}"}})
    handler.flush()
    tracer_provider.force_flush()
    tracer_provider.shutdown()
    total = sum(r.cost_usd for r in handler.records())
    print(f"sent {args.calls} chains ({len(handler.records())} priced model calls, ${total:.9f}) "
          f"to {args.endpoint}, project {args.project!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
