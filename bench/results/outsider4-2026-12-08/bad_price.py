from llm_cost_hooks import PriceBook, TokenUsage, count_message_tokens, count_tokens
from llm_cost_hooks import _errors as E


def t(name, fn):
    try:
        print(f"[{name}] OK -> {fn()!r}"[:250])
    except Exception as e:
        print(
            f"[{name}] {'TYPED' if isinstance(e, E.LLMCostHooksError) else 'UNTYPED'} {type(e).__name__}: {str(e)[:250]}"
        )


b = PriceBook.default()
t("unknown model", lambda: b.cost(TokenUsage(input_tokens=1), "gpt4o"))
t("negative tokens", lambda: TokenUsage(input_tokens=-5))
t("str tokens", lambda: TokenUsage(input_tokens="12"))
t("override typo key", lambda: PriceBook(overrides={"m": {"input_per_milion": 0.5, "output_per_million": 1}}))
t("override str", lambda: PriceBook(overrides={"m": {"input_per_million": "cheap", "output_per_million": 1}}))
t("override file missing", lambda: PriceBook(overrides="nope.yaml"))
t("count_tokens None text", lambda: count_tokens(None, "gpt-4o"))
t("count_tokens unknown model", lambda: count_tokens("hi", "my-model"))
t("count_message_tokens str", lambda: count_message_tokens("hi", "gpt-4o"))
t("cost model None", lambda: b.cost(TokenUsage(input_tokens=1), None))
