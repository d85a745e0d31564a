from langchain_core.globals import set_llm_cache

from llm_cost_hooks.langchain import FakeChatModelWithUsage, SemanticCache

for semantic in (False, True):
    set_llm_cache(SemanticCache(path=":memory:", semantic=semantic))
    llm = FakeChatModelWithUsage(
        model_name="gpt-4o-mini", responses=["A-secret", "B-answer", "C", "D", "E", "F"]
    )
    q = "What is my account balance?"
    print("A:", llm.invoke(q, config={"metadata": {"tenant_id": "A"}}).content)
    print("B:", llm.invoke(q, config={"metadata": {"tenant_id": "B"}}).content)
    print("B batch:", [m.content for m in llm.batch([q], config={"metadata": {"tenant_id": "B"}})])
    print("none:", llm.invoke(q).content)
    print("A via with_config:", llm.with_config(metadata={"tenant_id": "A"}).invoke(q).content)
    print("B via with_config:", llm.with_config(metadata={"tenant_id": "B"}).invoke(q).content)
    import asyncio

    print("B ainvoke:", asyncio.run(llm.ainvoke(q, config={"metadata": {"tenant_id": "B"}})).content)
    print("int tenant 7:", llm.invoke(q, config={"metadata": {"tenant_id": 7}}).content)
    print("str tenant '7':", llm.invoke(q, config={"metadata": {"tenant_id": "7"}}).content)
