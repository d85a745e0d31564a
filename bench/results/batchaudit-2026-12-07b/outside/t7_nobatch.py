from llm_cost_hooks import PriceBook, TokenUsage

pb = PriceBook.default()
for m in ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash", "deepseek-chat", "mistral-large-latest"]:
    try:
        p = pb.lookup(m)
    except Exception as e:
        print(m, type(e).__name__)
        continue
    u = TokenUsage(input_tokens=1000, output_tokens=100)
    uc = TokenUsage(input_tokens=1000, output_tokens=100, cache_read_tokens=800)
    print(
        m,
        "batch_in",
        p.batch_input_per_token,
        "cache_read",
        p.cache_read_per_token,
        "ratio plain",
        round(pb.cost(u, m, batch=True).total / pb.cost(u, m).total, 4),
        "ratio w/800 reads",
        round(pb.cost(uc, m, batch=True).total / pb.cost(uc, m).total, 4),
    )
pb2 = PriceBook(overrides={"my-model": {"input_per_million": 1.0, "output_per_million": 2.0}})
uc = TokenUsage(input_tokens=1000, output_tokens=100, cache_read_tokens=800)
print("override", pb2.cost(uc, "my-model", batch=True), "realtime", pb2.cost(uc, "my-model"))
