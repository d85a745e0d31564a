"""Writes bench/data/cache_nearmiss_kinds3.jsonl: a third near-miss set, hand-written from
support and chat traffic (banking, e-commerce, travel, HR, IT help desk, insurance, SaaS,
telecom, health), of kinds neither minimal_pairs_dev nor nearmiss-2026-12-07/pairs.jsonl
covers: modality and tense, quantifiers and scope, object swap with the same verb,
interrogative type, conditionals and exceptions, units and formats, roles and pronouns.
12 near-misses (same_answer false) and 12 true paraphrases (true, some with typos and odd
casing) per kind. Each row gets a half ("fix" / "check") by a seeded shuffle within its kind
and label, made before any result was looked at: rules are tuned on the fix half only."""

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "data" / "cache_nearmiss_kinds3.jsonl"
P: dict[str, list[tuple[str, str, str, bool]]] = {}


def add(kind: str, same: bool, rows: str) -> None:
    for line in rows.strip().splitlines():
        dom, s, r = (x.strip() for x in line.split("|"))
        P.setdefault(kind, []).append((dom, s, r, same))


add(
    "modality_tense",
    False,
    """
banking | Can I cancel a pending transfer? | Should I cancel a pending transfer?
banking | Was I charged a foreign transaction fee on this purchase? | Will I be charged a foreign transaction fee on this purchase?
ecommerce | Did my order ship yet? | When will my order ship?
travel | Has my flight been delayed? | Will my flight be delayed?
hr | Was my leave request approved? | Will my leave request be approved?
insurance | Did my claim get paid? | When will my claim get paid?
it | Has my password expired? | Will my password expire?
ecommerce | Do I need to return the item to get a refund? | Can I return the item to get a refund?
health | Should I take this medication with food? | Can I take this medication with food?
hr | Did I get paid for overtime this month? | Will I get paid for overtime this month?
travel | Can I bring a power bank in my checked bag? | Should I bring a power bank in my checked bag?
banking | Did my direct deposit arrive? | When will my direct deposit arrive?
""",
)
add(
    "modality_tense",
    True,
    """
banking | Can I cancel a pending transfer? | can i cancel a pending tranfer
banking | Was I charged a foreign transaction fee on this purchase? | Did I get charged a foreign transaction fee on this purchase?
travel | Has my flight been delayed? | Is my flight delayed?
hr | Was my leave request approved? | has my leave request been approved?
insurance | Did my claim get paid? | Has my claim been paid?
it | Has my password expired? | Did my password expire?
ecommerce | When will my order ship? | WHEN WILL MY ORDER SHIP?
ecommerce | Do I need to return the item to get a refund? | Do I have to return the item to get a refund?
health | Should I take this medication with food? | Should this medication be taken with food?
hr | Will I get paid for overtime this month? | Will I be paid for overtime this month?
travel | Can I bring a power bank in my checked bag? | Am I allowed to bring a power bank in my checked bag?
banking | When will my direct deposit arrive? | when does my direct deposit arive?
""",
)
add(
    "quantifier",
    False,
    """
banking | How do I freeze one of my cards? | How do I freeze all my cards?
saas | Can I delete a single message in a channel? | Can I delete every message in a channel?
ecommerce | What is the shipping fee for each item? | What is the total shipping fee?
telecom | How much does the plan cost per month? | How much does the plan cost per year?
hr | Do both parents get parental leave? | Does either parent get parental leave?
insurance | Are all of my dependents covered? | Are any of my dependents covered?
banking | Why were all of my payments declined? | Why were some of my payments declined?
saas | Do all team members need a paid seat? | Does only one team member need a paid seat?
ecommerce | Can I use both coupons on one order? | Can I use either coupon on this order?
it | How do I sign out of all devices? | How do I sign out of this device?
hr | Is the bonus paid to every employee? | Is the bonus paid to some employees?
telecom | Is the data allowance per line? | Is the data allowance shared across all lines?
""",
)
add(
    "quantifier",
    True,
    """
banking | How do I freeze all my cards? | how do I freeze all of my cards?
telecom | How much does the plan cost per month? | What is the monthly cost of the plan?
insurance | Are all of my dependents covered? | Are all my dependants covered?
it | How do I sign out of all devices? | How can I log out of every device?
ecommerce | What is the shipping fee for each item? | How much is the shipping fee per item?
hr | Do both parents get parental leave? | Are both parents entitled to parental leave?
ecommerce | Can I use both coupons on one order? | Can I apply both coupons to a single order?
banking | Why were all of my payments declined? | Why did all my payments get declined?
hr | Is the bonus paid to every employee? | Does every employee get the bonus?
saas | Can I delete every message in a channel? | Can I delete all messages in a channel?
it | Does the update restart every computer in the office? | will the update reboot every computer in the office
telecom | Is the data allowance shared across all lines? | Is the data allowence shared by all lines?
""",
)
add(
    "object_swap",
    False,
    """
ecommerce | How do I cancel my order? | How do I cancel my subscription?
travel | How do I cancel my flight? | How do I cancel my hotel booking?
banking | How do I reset my password? | How do I reset my PIN?
banking | Can the refund go to my card? | Can the refund go to my wallet?
it | How do I update my email address? | How do I update my phone number?
saas | How do I export my invoices? | How do I export my contacts?
hr | Where can I download my payslip? | Where can I download my tax form?
insurance | How do I renew my car insurance? | How do I renew my home insurance?
ecommerce | How do I change my delivery address? | How do I change my billing address?
travel | Can I change the name on my ticket? | Can I change the date on my ticket?
banking | How do I close my savings account? | How do I close my credit card?
health | How do I book a blood test? | How do I book a vaccination?
""",
)
add(
    "object_swap",
    True,
    """
ecommerce | How do I cancel my subscription? | how can i cancel my subscription
travel | How do I cancel my flight? | I need to cancel my flight, how do I do that?
banking | How do I reset my PIN? | How can I reset my PIN?
banking | Can the refund go to my wallet? | Can I get the refund to my wallet?
it | How do I update my email address? | How do I change my email address?
saas | How do I export my invoices? | How can I export my invoices?
hr | Where can I download my payslip? | Where do I download my payslip?
insurance | How do I renew my car insurance? | How can I renew my car insurance?
ecommerce | How do I change my delivery address? | How do I update my delivery address?
travel | Can I change the name on my ticket? | Is it possible to change the name on my ticket?
banking | How do I close my savings account? | how do i close my savings acount?
health | How do I book a blood test? | How can I book a blood test?
""",
)
add(
    "interrogative",
    False,
    """
banking | How do I close my account? | Why was my account closed?
ecommerce | When will my refund arrive? | How will my refund arrive?
travel | Where do I pick up my rental car? | When do I pick up my rental car?
hr | Who approves my expense report? | When is my expense report approved?
it | How do I install the VPN client? | Why do I need the VPN client?
saas | Who can see my private notes? | How can I see my private notes?
insurance | When should I file a claim? | How should I file a claim?
telecom | Why is my bill higher this month? | How is my bill calculated this month?
banking | Where can I use my debit card? | How can I use my debit card?
ecommerce | Who pays for return shipping? | How do I pay for return shipping?
health | Why do I need a referral? | How do I get a referral?
travel | When does check-in open? | Where is check-in?
""",
)
add(
    "interrogative",
    True,
    """
banking | How do I close my account? | how can I close my acount
ecommerce | When will my refund arrive? | When am I going to get my refund?
travel | Where do I pick up my rental car? | Where can I pick up my rental car?
hr | Who approves my expense report? | Who is responsible for approving my expense report?
it | How do I install the VPN client? | How can I install the VPN client?
saas | Who can see my private notes? | Who is able to see my private notes?
insurance | When should I file a claim? | When do I need to file a claim?
telecom | Why is my bill higher this month? | why is my bill so high this month
banking | Where can I use my debit card? | Where am I able to use my debit card?
ecommerce | Who pays for return shipping? | Who covers the cost of return shipping?
health | Why do I need a referral? | Why is a referral required?
travel | When does check-in open? | What time does check-in open?
""",
)
add(
    "conditional",
    False,
    """
saas | Will I be charged if I cancel before the trial ends? | Will I be charged unless I cancel before the trial ends?
travel | Is the ticket refundable if the airline cancels the flight? | Is the ticket refundable unless the airline cancels the flight?
it | Is support available every day except weekends? | Is support available every day including weekends?
banking | Does the fee apply if I pay by card? | Does the fee apply unless I pay by card?
ecommerce | Are all items returnable including sale items? | Are all items returnable except sale items?
insurance | Am I covered if someone else drives my car? | Am I covered unless someone else drives my car?
it | Does the laptop lock when I close the lid? | Does the laptop lock unless I close the lid?
telecom | Do I pay roaming charges if I use wifi abroad? | Do I pay roaming charges unless I use wifi abroad?
health | Should I keep taking the antibiotics if I feel better? | Should I keep taking the antibiotics until I feel better?
saas | Are my files kept if I downgrade? | Are my files kept unless I downgrade?
banking | Is there a monthly fee if I keep the minimum balance? | Is there a monthly fee unless I keep the minimum balance?
ecommerce | Does delivery happen on weekends? | Does delivery happen every day except weekends?
""",
)
add(
    "conditional",
    True,
    """
saas | Will I be charged if I cancel before the trial ends? | If I cancel before the trial ends, will I be charged?
travel | Is the ticket refundable if the airline cancels the flight? | If the airline cancels the flight, is my ticket refundable?
it | Is support available every day except weekends? | Is support open every day apart from weekends?
banking | Does the fee apply if I pay by card? | If I pay by card, does the fee apply?
ecommerce | Are all items returnable except sale items? | Can all items be returned except sale items?
insurance | Am I covered if someone else drives my car? | If someone else drives my car, am I covered?
it | Does the laptop lock when I close the lid? | does the laptop lock when i shut the lid
telecom | Do I pay roaming charges if I use wifi abroad? | Will I pay roaming charges if I use wi-fi abroad?
health | Should I keep taking the antibiotics if I feel better? | If I feel better, should I keep taking the antibiotics?
saas | Are my files kept if I downgrade? | If I downgrade, are my files kept?
banking | Is there a monthly fee unless I keep the minimum balance? | Is there a monthly fee unless I maintain the minimum balance?
hr | Do I get paid overtime if I work on a holiday? | Do I get overtime pay if I work on a holiday?
""",
)
add(
    "units_formats",
    False,
    """
hr | What happens if I'm 10 minutes late for my shift? | What happens if I'm 10 hours late for my shift?
ecommerce | Can I wash this jacket at 40°C? | Can I wash this jacket at 40°F?
banking | Is there a fee to send 100 USD? | Is there a fee to send 100 CAD?
ecommerce | Is shipping free on orders over $50? | Is shipping free on orders over €50?
banking | Did my interest rate go up by 1 percent? | Did my interest rate go up by 1 percentage point?
saas | Is the bug fixed in v2.1? | Is the bug fixed in v2.10?
travel | Can I change my seat to the 2nd row? | Can I change my seat to the 3rd row?
hr | Is payday on the 15th of the month? | Is payday on the 30th of the month?
travel | Is the price for 2-3 people? | Is the price for 2-4 people?
telecom | Is the number 555-0142 a support line? | Is the number 555-0124 a support line?
ecommerce | Do you ship to postcode 10115? | Do you ship to postcode 10151?
banking | Is the APR 19.9%? | Is the APR 19.99%?
""",
)
add(
    "units_formats",
    True,
    """
hr | What happens if I'm 10 minutes late for my shift? | what happens if im 10 mins late for my shift
ecommerce | Can I wash this jacket at 40°C? | Is it OK to wash this jacket at 40°C?
banking | Is there a fee to send 100 USD? | Is there a fee to send 100 US dollars?
ecommerce | Is shipping free on orders over $50? | Do orders over $50 ship for free?
banking | Did my interest rate go up by 1 percentage point? | Did my interest rate rise by one percentage point?
saas | Is the bug fixed in v2.10? | Is the bug fixed in version 2.10?
travel | Can I change my seat to the 2nd row? | Can I move my seat to the second row?
hr | Is payday on the 15th of the month? | Do we get paid on the 15th of the month?
travel | Is the price for 2-3 people? | Is the price for 2 to 3 people?
telecom | Is the number 555-0142 a support line? | is 555-0142 a support number?
ecommerce | Do you ship to postcode 10115? | Do you deliver to postcode 10115?
banking | Is the APR 19.9%? | Is the APR 19.9 percent?
""",
)
add(
    "roles_pronouns",
    False,
    """
hr | My manager approved my timesheet, what now? | I approved my manager's timesheet, what now?
banking | They owe me 50 dollars, how do I settle up in the app? | I owe them 50 dollars, how do I settle up in the app?
saas | Can my admin see my messages? | Can I see my admin's messages?
ecommerce | My friend paid for my order, can I get an invoice? | I paid for my friend's order, can I get an invoice?
it | My colleague shared a file with me, where is it? | I shared a file with my colleague, where is it?
travel | Can my partner check in for me? | Can I check in for my partner?
insurance | Is my wife covered under my policy? | Am I covered under my wife's policy?
banking | Can my son use my card? | Can I use my son's card?
hr | Who reports to me? | Who do I report to?
telecom | Can she call me from abroad for free? | Can I call her from abroad for free?
saas | Did they get my invite? | Did I get their invite?
health | Can my husband pick up my prescription? | Can I pick up my husband's prescription?
""",
)
add(
    "roles_pronouns",
    True,
    """
hr | My manager approved my timesheet, what now? | my manager approved my timesheet. what happens next?
banking | They owe me 50 dollars, how do I settle up in the app? | They owe me 50 dollars, how can I settle up in the app?
saas | Can my admin see my messages? | Is my admin able to see my messages?
ecommerce | I paid for my friend's order, can I get an invoice? | I paid for my friends order, can I get an invoice?
it | My colleague shared a file with me, where is it? | My colleague shared a file with me, where can I find it?
travel | Can I check in for my partner? | Am I able to check in for my partner?
insurance | Is my wife covered under my policy? | Does my policy cover my wife?
banking | Can I use my son's card? | can i use my sons card
hr | Who do I report to? | Who am I reporting to?
telecom | Can she call me from abroad for free? | Can she call me for free from abroad?
saas | Did they get my invite? | Did they receive my invite?
health | Can my husband pick up my prescription? | Is my husband allowed to pick up my prescription?
""",
)

if __name__ == "__main__":
    rng = random.Random(20261209)
    rows = []
    for kind, items in P.items():
        for same in (False, True):
            group = [x for x in items if x[3] == same]
            assert len(group) == 12, (kind, same, len(group))
            order = list(range(len(group)))
            rng.shuffle(order)
            fix = set(order[: len(group) // 2])
            for i, (dom, s, r, _) in enumerate(group):
                rows.append(
                    {
                        "kind": kind,
                        "domain": dom,
                        "stored": s,
                        "request": r,
                        "same_answer": same,
                        "half": "fix" if i in fix else "check",
                    }
                )
    OUT.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} pairs -> {OUT}")
