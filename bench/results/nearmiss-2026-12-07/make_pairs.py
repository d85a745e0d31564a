"""Writes pairs.jsonl: near-miss requests (same_answer false) and true paraphrases (true),
per kind, from support and chat traffic in several domains. Written by hand for this check;
none is taken from minimal_pairs_dev. Each row gets a half ("fix" or "check") by a seeded
shuffle within its kind and label, so rules are tuned on one half and judged on the other."""

import json
import random
from pathlib import Path

# kind -> list of (domain, stored, request, same_answer)
P: dict[str, list[tuple[str, str, str, bool]]] = {}


def add(kind: str, same: bool, rows: str) -> None:
    for line in rows.strip().splitlines():
        dom, s, r = (x.strip() for x in line.split("|"))
        P.setdefault(kind, []).append((dom, s, r, same))


add(
    "antonym",
    False,
    """
banking | How do I increase my daily ATM withdrawal limit? | How do I decrease my daily ATM withdrawal limit?
saas | How do I enable two-factor authentication for my workspace? | How do I disable two-factor authentication for my workspace?
ecommerce | How do I subscribe to the weekly deals newsletter? | How do I unsubscribe from the weekly deals newsletter?
saas | What happens to my data if I upgrade my plan mid-cycle? | What happens to my data if I downgrade my plan mid-cycle?
hr | How do I add a dependent to my benefits enrollment? | How do I remove a dependent from my benefits enrollment?
it | My laptop screen is locked, how do I unlock it remotely? | My laptop screen is unlocked, how do I lock it remotely?
hr | How do I accept the job offer in the candidate portal? | How do I decline the job offer in the candidate portal?
saas | How can I import contacts from a CSV file? | How can I export contacts to a CSV file?
banking | How do I freeze my credit card temporarily? | How do I unfreeze my credit card temporarily?
ecommerce | Can I add items to an order that has already shipped? | Can I remove items from an order that has already shipped?
it | How do I grant a contractor access to the shared drive? | How do I revoke a contractor's access to the shared drive?
insurance | How do I raise my deductible on my health plan? | How do I lower my deductible on my health plan?
travel | How do I opt in to seat upgrade offers? | How do I opt out of seat upgrade offers?
""",
)
add(
    "antonym",
    True,
    """
banking | How do I increase my daily ATM withdrawal limit? | How can I raise my daily ATM withdrawal limit?
saas | How do I enable two-factor authentication for my workspace? | How do I turn on two-factor authentication for my workspace?
ecommerce | How do I unsubscribe from the weekly deals newsletter? | How can I stop getting the weekly deals newsletter?
saas | What happens to my data if I downgrade my plan mid-cycle? | If I downgrade my plan mid-cycle, what happens to my data?
hr | How do I add a dependent to my benefits enrollment? | How can I add a dependent to my benefits enrollment?
it | How do I unlock my laptop remotely? | How can I unlock my laptop remotely?
hr | How do I accept the job offer in the candidate portal? | Where do I accept the job offer in the candidate portal?
saas | How can I export contacts to a CSV file? | How do I export my contacts as a CSV file?
banking | How do I freeze my credit card temporarily? | Can I temporarily freeze my credit card?
ecommerce | Can I remove items from an order that has already shipped? | Is it possible to remove items from an order that already shipped?
it | How do I revoke a contractor's access to the shared drive? | How can I revoke a contractor's access to the shared drive?
insurance | How do I lower my deductible on my health plan? | Can I lower the deductible on my health plan?
travel | How do I opt out of seat upgrade offers? | How can I opt out of the seat upgrade offers?
""",
)
add(
    "direction",
    False,
    """
banking | How long does a transfer from my savings to my checking account take? | How long does a transfer from my checking to my savings account take?
banking | I sent him 200 dollars by mistake, how do I get it back? | He sent me 200 dollars by mistake, how do I give it back?
ecommerce | As a buyer, how do I open a dispute for an item? | As a seller, how do I open a dispute for an item?
travel | Is there a direct train from Lyon to Geneva? | Is there a direct train from Geneva to Lyon?
saas | How do I migrate my projects from Trello to Asana? | How do I migrate my projects from Asana to Trello?
hr | Can my manager see my self-review? | Can I see my manager's self-review?
banking | Why was I charged a fee for an incoming wire? | Why was I charged a fee for an outgoing wire?
it | How do I forward emails from my personal account to my work account? | How do I forward emails from my work account to my personal account?
ecommerce | Can a buyer leave feedback for the seller? | Can a seller leave feedback for the buyer?
travel | What is the baggage allowance on the outbound flight? | What is the baggage allowance on the return flight?
insurance | Does the policyholder get notified when a beneficiary files a claim? | Does the beneficiary get notified when the policyholder files a claim?
hr | How do I transfer from the Boston office to the Denver office? | How do I transfer from the Denver office to the Boston office?
banking | Can my landlord pull rent from my account automatically? | Can I pull rent from my tenant's account automatically?
""",
)
add(
    "direction",
    True,
    """
banking | How long does a transfer from my savings to my checking account take? | How long does it take to move money from savings to checking?
banking | I sent him 200 dollars by mistake, how do I get it back? | I accidentally sent him 200 dollars, how can I get it back?
ecommerce | As a buyer, how do I open a dispute for an item? | How do I open a dispute for an item as a buyer?
travel | Is there a direct train from Lyon to Geneva? | Can I take a direct train from Lyon to Geneva?
saas | How do I migrate my projects from Trello to Asana? | How can I move my projects from Trello to Asana?
hr | Can my manager see my self-review? | Is my self-review visible to my manager?
banking | Why was I charged a fee for an incoming wire? | Why did I pay a fee on an incoming wire?
it | How do I forward emails from my personal account to my work account? | How can I forward email from my personal account to my work account?
ecommerce | Who pays return shipping when the item is damaged? | When the item is damaged, who pays for return shipping?
travel | What is the baggage allowance on the outbound flight? | How much baggage can I take on the outbound flight?
insurance | Does the policyholder get notified when a beneficiary files a claim? | Is the policyholder notified when a beneficiary files a claim?
hr | How do I transfer from the Boston office to the Denver office? | What is the process to transfer from the Boston office to the Denver office?
banking | Can my landlord pull rent from my account automatically? | Is my landlord allowed to take rent from my account automatically?
""",
)
add(
    "negation",
    False,
    """
banking | Can I use my debit card abroad? | Why can't I use my debit card abroad?
ecommerce | My package arrived damaged, what should I do? | My package did not arrive, what should I do?
travel | Can I change my flight without paying a fee? | Can I change my flight by paying a fee?
saas | Why is my invoice showing the discount? | Why is my invoice not showing the discount?
hr | Do I get paid for overtime as a salaried employee? | Why don't I get paid for overtime as a salaried employee?
it | Can I install software on my work laptop? | Why can't I install software on my work laptop?
insurance | Is physical therapy covered by my plan? | Why isn't physical therapy covered by my plan?
banking | My refund was credited to my account, when can I use it? | My refund was never credited to my account, what can I do?
ecommerce | Can I return an item without the receipt? | Can I return an item with the receipt?
saas | Does the free plan include API access? | Why does the free plan not include API access?
travel | My hotel booking was confirmed, what happens next? | My hotel booking was not confirmed, what happens next?
hr | Why did I get paid for the public holiday? | Why didn't I get paid for the public holiday?
it | The VPN connects but websites load slowly, what can I do? | The VPN does not connect and websites do not load, what can I do?
""",
)
add(
    "negation",
    True,
    """
banking | Why can't I use my debit card abroad? | Why does my debit card not work abroad?
ecommerce | My package did not arrive, what should I do? | My package never arrived, what should I do?
travel | Can I change my flight without paying a fee? | Is it possible to change my flight without paying a fee?
saas | Why is my invoice not showing the discount? | Why isn't the discount showing on my invoice?
hr | Why don't I get paid for overtime as a salaried employee? | Why am I not paid for overtime as a salaried employee?
it | Why can't I install software on my work laptop? | Why am I unable to install software on my work laptop?
insurance | Why isn't physical therapy covered by my plan? | Why is physical therapy not covered by my plan?
banking | My refund was never credited to my account, what can I do? | My refund hasn't been credited to my account, what can I do?
ecommerce | Can I return an item without the receipt? | Is it possible to return an item without a receipt?
saas | Does the free plan include API access? | Is API access included in the free plan?
travel | My hotel booking was not confirmed, what happens next? | My hotel booking wasn't confirmed, what happens next?
hr | Do I need to submit a timesheet for a public holiday? | Do I have to submit a timesheet for a public holiday?
it | The VPN does not connect, what can I do? | The VPN won't connect, what can I do?
""",
)
add(
    "quantity",
    False,
    """
banking | What is the fee for withdrawing 50 euros at a foreign ATM? | What is the fee for withdrawing 500 euros at a foreign ATM?
ecommerce | Is delivery free within 5 km of the store? | Is delivery free within 5 miles of the store?
saas | What happens if I exceed 2 GB of storage on the free tier? | What happens if I exceed 2 TB of storage on the free tier?
hr | Can I carry over 5 vacation days into next year? | Can I carry over 15 vacation days into next year?
banking | Is there a penalty for paying off 10 percent of my loan early? | Is there a penalty for paying off 100 percent of my loan early?
travel | Can I bring a 10 kg carry-on bag? | Can I bring a 10 lb carry-on bag?
insurance | Does my plan cover 3 therapy sessions a month? | Does my plan cover 30 therapy sessions a month?
it | My mailbox is over 50 MB, how do I clean it up? | My mailbox is over 50 GB, how do I clean it up?
ecommerce | Can I order a pack of 6 bottles? | Can I order a pack of 60 bottles?
saas | How much does the Team plan cost for 5 users? | How much does the Team plan cost for 25 users?
banking | Do I pay tax on interest above 1,000 dollars? | Do I pay tax on interest above 10,000 dollars?
travel | Is the hotel within 2 miles of the airport? | Is the hotel within 20 miles of the airport?
hr | Is the parental leave 12 weeks? | Is the parental leave 12 months?
""",
)
add(
    "quantity",
    True,
    """
banking | What is the fee for withdrawing 50 euros at a foreign ATM? | How much does it cost to withdraw 50 euros at a foreign ATM?
ecommerce | Is delivery free within 5 km of the store? | Is delivery free within five kilometres of the store?
saas | What happens if I exceed 2 GB of storage on the free tier? | What happens when I go over 2 GB of storage on the free tier?
hr | Can I carry over 5 vacation days into next year? | Can I carry over five vacation days into next year?
banking | Is there a penalty for paying off 10 percent of my loan early? | Is there a penalty for paying off 10% of my loan early?
travel | Can I bring a 10 kg carry-on bag? | Am I allowed a 10 kg carry-on bag?
insurance | Does my plan cover 3 therapy sessions a month? | Are 3 therapy sessions a month covered by my plan?
it | My mailbox is over 50 GB, how do I clean it up? | My mailbox is larger than 50 GB, how do I clean it up?
ecommerce | Can I order a pack of 6 bottles? | Is it possible to order a pack of six bottles?
saas | How much does the Team plan cost for 5 users? | What is the price of the Team plan for 5 users?
banking | Do I pay tax on interest above 1,000 dollars? | Is interest above 1000 dollars taxed?
travel | Is the hotel within 2 miles of the airport? | Is the hotel less than 2 miles from the airport?
hr | Is the parental leave 12 weeks? | Does parental leave last 12 weeks?
""",
)
add(
    "date",
    False,
    """
banking | Why was my card charged yesterday? | Why will my card be charged tomorrow?
travel | Can I check in before 3 pm? | Can I check in after 3 pm?
ecommerce | Do you deliver on Saturdays? | Do you deliver on Sundays?
hr | When is payroll processed in December? | When is payroll processed in January?
it | Is the help desk open at 7 am? | Is the help desk open at 7 pm?
travel | Is breakfast served before 7 am? | Is breakfast served after 10 am?
banking | Will a transfer sent on Friday arrive on Monday? | Will a transfer sent on Monday arrive on Friday?
saas | Is there scheduled maintenance this weekend? | Is there scheduled maintenance next weekend?
insurance | Does my coverage start on the first of March? | Does my coverage start on the first of April?
hr | Can I take leave during the last week of the quarter? | Can I take leave during the first week of the quarter?
ecommerce | Will my order ship today? | Will my order ship next week?
travel | Is the museum open on Easter Monday? | Is the museum open on Christmas Day?
banking | Was my salary deposited this morning? | Will my salary be deposited tonight?
""",
)
add(
    "date",
    True,
    """
banking | Why was my card charged yesterday? | Why did my card get a charge yesterday?
travel | Can I check in before 3 pm? | Is check-in possible before 3 pm?
ecommerce | Do you deliver on Saturdays? | Are deliveries made on Saturday?
hr | When is payroll processed in December? | What date is payroll run in December?
it | Is the help desk open at 7 am? | Can I reach the help desk at 7 am?
travel | Is breakfast served before 7 am? | Can I get breakfast before 7 am?
banking | Will a transfer sent on Friday arrive on Monday? | If I send a transfer on Friday, will it arrive Monday?
saas | Is there scheduled maintenance this weekend? | Is any maintenance scheduled for this weekend?
insurance | Does my coverage start on the first of March? | Does my coverage begin on March 1st?
hr | Can I take leave during the last week of the quarter? | Am I allowed to take leave in the last week of the quarter?
ecommerce | Will my order ship today? | Is my order going to ship today?
travel | Is the museum open on Easter Monday? | Can I visit the museum on Easter Monday?
banking | Was my salary deposited this morning? | Did my salary get deposited this morning?
""",
)
add(
    "entity",
    False,
    """
ecommerce | Does the iPhone 15 case fit the iPhone 15 Pro? | Does the iPhone 15 case fit the iPhone 14?
banking | What is the exchange rate fee for paying in EUR? | What is the exchange rate fee for paying in USD?
saas | Does the Basic plan include single sign-on? | Does the Pro plan include single sign-on?
travel | Do I need a visa to visit Canada? | Do I need a visa to visit Brazil?
it | How do I install Slack on my Mac? | How do I install Zoom on my Mac?
insurance | Is Dr. Patel in my network? | Is Dr. Nguyen in my network?
hr | Does the Berlin office have a parking lot? | Does the Madrid office have a parking lot?
ecommerce | Do you ship to Ireland? | Do you ship to Iceland?
banking | Can I link my Revolut account to my Chase account? | Can I link my Wise account to my Chase account?
travel | Does Lufthansa allow pets in the cabin? | Does Ryanair allow pets in the cabin?
saas | How do I connect Salesforce to the dashboard? | How do I connect HubSpot to the dashboard?
it | How do I reset my Outlook password on Android? | How do I reset my Outlook password on iOS?
insurance | Does my plan cover Ozempic? | Does my plan cover Wegovy?
""",
)
add(
    "entity",
    True,
    """
ecommerce | Does the iPhone 15 case fit the iPhone 15 Pro? | Will the iPhone 15 case fit an iPhone 15 Pro?
banking | What is the exchange rate fee for paying in EUR? | What fee do you charge for paying in euros?
saas | Does the Basic plan include single sign-on? | Is single sign-on included in the Basic plan?
travel | Do I need a visa to visit Canada? | Is a visa required to visit Canada?
it | How do I install Slack on my Mac? | How can I install Slack on my Mac?
insurance | Is Dr. Patel in my network? | Is Dr. Patel an in-network doctor for me?
hr | Does the Berlin office have a parking lot? | Is there parking at the Berlin office?
ecommerce | Do you ship to Ireland? | Can you ship orders to Ireland?
banking | Can I link my Revolut account to my Chase account? | Is it possible to link my Revolut account with my Chase account?
travel | Does Lufthansa allow pets in the cabin? | Can I bring my pet in the cabin on Lufthansa?
saas | How do I connect Salesforce to the dashboard? | How can I connect Salesforce with the dashboard?
it | How do I reset my Outlook password on Android? | How can I reset my Outlook password on Android?
insurance | Does my plan cover Ozempic? | Is Ozempic covered by my plan?
""",
)
add(
    "person",
    False,
    """
banking | How do I reset the PIN on my card? | How do I reset the PIN on my child's card?
insurance | Is my spouse covered under my dental plan? | Am I covered under my spouse's dental plan?
ecommerce | Can I see my order history? | Can I see my son's order history?
hr | How do I update my emergency contact? | How do I update my husband's emergency contact?
saas | How do I change my own role in the workspace? | How do I change another member's role in the workspace?
travel | Can I change the name on my ticket? | Can I change the name on my wife's ticket?
banking | How do I close my account? | How do I close my late mother's account?
it | How do I reset my password? | How do I reset a colleague's password?
insurance | How do I add my newborn to my policy? | How do I add my parents to my policy?
hr | How many sick days do I get? | How many sick days does my team get?
banking | Can I see my daughter's transactions? | Can my daughter see my transactions?
ecommerce | Can I use my partner's gift card? | Can my partner use my gift card?
saas | Can I see who viewed my document? | Can others see that I viewed their document?
""",
)
add(
    "person",
    True,
    """
banking | How do I reset the PIN on my child's card? | How can I reset my child's card PIN?
insurance | Is my spouse covered under my dental plan? | Does my dental plan cover my spouse?
ecommerce | Can I see my order history? | Where can I see my order history?
hr | How do I update my emergency contact? | How can I change my emergency contact?
saas | How do I change another member's role in the workspace? | How can I change the role of another member in the workspace?
travel | Can I change the name on my wife's ticket? | Is it possible to change the name on my wife's ticket?
banking | How do I close my late mother's account? | How can I close the account of my late mother?
it | How do I reset my password? | How can I reset my password?
insurance | How do I add my newborn to my policy? | How can I add my newborn baby to my policy?
hr | How many sick days do I get? | How many sick days am I entitled to?
banking | Can I see my daughter's transactions? | Am I able to view my daughter's transactions?
ecommerce | Can I use my partner's gift card? | Am I allowed to use my partner's gift card?
saas | Can I see who viewed my document? | Is there a way to see who viewed my document?
""",
)
add(
    "comparative",
    False,
    """
travel | What is the cheapest flight to Rome in May? | What is the most expensive flight to Rome in May?
ecommerce | Which laptop has the longest battery life? | Which laptop has the shortest battery life?
saas | Which plan has the most storage? | Which plan has the least storage?
banking | Which savings account has the highest interest rate? | Which savings account has the lowest interest rate?
hr | When is the first pay date of the month? | When is the last pay date of the month?
travel | What is the earliest train to the airport? | What is the latest train to the airport?
ecommerce | What is the fastest shipping option? | What is the slowest shipping option?
insurance | Which plan has the lowest premium? | Which plan has the highest premium?
it | What is the minimum password length? | What is the maximum password length?
banking | Which card has the smallest annual fee? | Which card has the biggest annual fee?
saas | Can I see the newest tickets first? | Can I see the oldest tickets first?
travel | Which hotel is closest to the beach? | Which hotel is farthest from the beach?
ecommerce | Show me the best rated headphones | Show me the worst rated headphones
""",
)
add(
    "comparative",
    True,
    """
travel | What is the cheapest flight to Rome in May? | What's the lowest fare for a flight to Rome in May?
ecommerce | Which laptop has the longest battery life? | Which laptop's battery lasts the longest?
saas | Which plan has the most storage? | Which plan gives the most storage?
banking | Which savings account has the highest interest rate? | Which savings account pays the highest interest rate?
hr | When is the first pay date of the month? | What is the first pay date each month?
travel | What is the earliest train to the airport? | When does the earliest train to the airport leave?
ecommerce | What is the fastest shipping option? | Which shipping option is the fastest?
insurance | Which plan has the lowest premium? | Which plan has the cheapest premium?
it | What is the minimum password length? | How short can a password be at minimum?
banking | Which card has the smallest annual fee? | Which card has the lowest annual fee?
saas | Can I see the newest tickets first? | Can I sort tickets with the newest first?
travel | Which hotel is closest to the beach? | Which hotel is nearest to the beach?
ecommerce | Show me the best rated headphones | Which headphones have the best ratings?
""",
)

rng = random.Random(20261207)
out = Path(__file__).with_name("pairs.jsonl")
with out.open("w", encoding="utf-8") as f:
    for kind, rows in P.items():
        for same in (False, True):
            grp = [r for r in rows if r[3] is same]
            idx = list(range(len(grp)))
            rng.shuffle(idx)
            half = {i: ("fix" if k < (len(grp) + 1) // 2 else "check") for k, i in enumerate(idx)}
            for i, (dom, s, r, _) in enumerate(grp):
                rec = {
                    "kind": kind,
                    "domain": dom,
                    "stored": s,
                    "request": r,
                    "same_answer": same,
                    "half": half[i],
                }
                f.write(json.dumps(rec) + "\n")
print(sum(len(v) for v in P.values()), "pairs ->", out)
