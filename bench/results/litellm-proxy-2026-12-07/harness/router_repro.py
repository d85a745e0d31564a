import asyncio
import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import litellm

from llm_cost_hooks.litellm import CostHooksLogger


class Spy(CostHooksLogger):
    def log_pre_api_call(self, model, messages, kwargs):
        print(
            "PRE", model, kwargs.get("litellm_call_id"), (kwargs.get("litellm_params") or {}).get("api_base")
        )
        super().log_pre_api_call(model, messages, kwargs)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        print("FAIL", kwargs.get("model"), kwargs.get("litellm_call_id"))
        await super().async_log_failure_event(kwargs, response_obj, start_time, end_time)

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        print("SFAIL", kwargs.get("model"), kwargs.get("litellm_call_id"))
        super().log_failure_event(kwargs, response_obj, start_time, end_time)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        print("OK", kwargs.get("model"), kwargs.get("litellm_call_id"))
        await super().async_log_success_event(kwargs, response_obj, start_time, end_time)


cl = Spy(ledger="memory://")
litellm.callbacks = [cl]
router = litellm.Router(
    model_list=[
        {
            "model_name": "flaky-4o",
            "litellm_params": {
                "model": "openai/gpt-4o",
                "api_key": "x",
                "api_base": "http://127.0.0.1:18703/v1",
            },
        },
        {
            "model_name": "gpt-4o-mini",
            "litellm_params": {
                "model": "openai/gpt-4o-mini",
                "api_key": "x",
                "api_base": "http://127.0.0.1:18701/v1",
            },
        },
    ],
    num_retries=1,
    retry_after=0,
    fallbacks=[{"flaky-4o": ["gpt-4o-mini"]}],
)


async def main():
    r = await router.acompletion(
        model="flaky-4o",
        messages=[{"role": "user", "content": "x" * 200}],
        max_tokens=9,
        metadata={"task_id": "T"},
        litellm_call_id="CID-1",
    )
    print("model", r.model)
    await cl.aflush()


asyncio.run(main())
cl.flush()
for rec in cl.records():
    print(
        rec.model,
        rec.attempt,
        rec.success,
        rec.input_tokens,
        rec.output_tokens,
        rec.cost_usd,
        rec.task_id,
        rec.request_id,
    )
