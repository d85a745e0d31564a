"""Anomaly alerts with the default AnomalyRule on a simulated clock: a new tenant, steady, and office hours."""

from llm_cost_hooks.budget import AlertManager, AnomalyRule, Limit, SpendGuard, SpendRequest


def run(name, spend_at, hours=72, rule=None):
    rule = rule or AnomalyRule()
    t = [1796601600.0]  # 2026-12-07 00:00 UTC
    events = []
    mgr = AlertManager([events.append], log=False, span_events=False, anomaly=rule, timer=lambda d, fn: None)
    g = SpendGuard([Limit.usd(1000, per="month", scope="tenant")], alerts=mgr, clock=lambda: t[0])
    req = SpendRequest(model="gpt-4o-mini", input_tokens=100, max_output_tokens=100, tenant="acme")
    for minute in range(hours * 60):
        t[0] = 1796601600.0 + minute * 60 + 7 * 3600 + 1800  # start 07:30
        n = spend_at(t[0])
        for _ in range(n):
            g.reserve(req).settle(0.00002)
        g.check_anomalies()
    hrs = sorted({int(e.period_id) % 24 for e in events if e.kind == "anomaly"})
    print(
        f"{name}: {sum(e.kind == 'anomaly' for e in events)} anomaly alerts in {hours} h; hours of day: {hrs}"
    )


run("no calls", lambda now: 0)
run("steady 1 call/min", lambda now: 1)
run("office hours 09-17 UTC, 1 call/min", lambda now: 1 if 9 <= (now // 3600) % 24 < 17 else 0)
run(
    "office hours, factor=4", lambda now: 1 if 9 <= (now // 3600) % 24 < 17 else 0, rule=AnomalyRule(factor=4)
)
run("steady + 5x hour at h30", lambda now: 5 if int((now - 1796601600) // 3600) == 37 else 1)
