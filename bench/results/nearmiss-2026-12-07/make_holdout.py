"""Writes holdout.jsonl: a second, smaller set written after the contrast changes and run
once, with no change made after seeing it (same kinds, new phrasings and domains)."""

import json
from pathlib import Path

ROWS = """
antonym|F|banking|How do I turn on international payments for my card?|How do I turn off international payments for my card?
antonym|F|saas|Can I merge two workspaces into one?|Can I split one workspace into two?
antonym|F|ecommerce|How do I enable one-click checkout?|How do I disable one-click checkout?
antonym|F|hr|How do I approve a time-off request from my report?|How do I reject a time-off request from my report?
antonym|T|banking|How do I turn on international payments for my card?|How can I switch on international payments on my card?
antonym|T|saas|Can I merge two workspaces into one?|Is it possible to combine two workspaces into one?
antonym|T|ecommerce|How do I disable one-click checkout?|How can I turn off one-click checkout?
antonym|T|hr|How do I approve a time-off request from my report?|Where do I approve my report's time-off request?
direction|F|travel|Can I get a refund if the airline cancels my flight?|Can the airline get a refund if I cancel my flight?
direction|F|banking|Why did my employer send me a smaller paycheck?|Why did I send my employer a smaller invoice?
direction|F|ecommerce|How do I move items from my cart to my wishlist?|How do I move items from my wishlist to my cart?
direction|F|it|How do I copy files from my phone to my laptop?|How do I copy files from my laptop to my phone?
direction|T|travel|Can I get a refund if the airline cancels my flight?|If the airline cancels my flight, am I refunded?
direction|T|banking|How do I move money from my savings to my checking account?|How can I transfer money from savings to checking?
direction|T|ecommerce|How do I move items from my cart to my wishlist?|How can I save items from my cart to my wishlist?
direction|T|it|How do I copy files from my phone to my laptop?|What's the way to copy files from my phone to my laptop?
negation|F|insurance|Is my claim approved?|Why is my claim not approved?
negation|F|saas|Why are my emails being delivered?|Why are my emails not being delivered?
negation|F|travel|I have my boarding pass, what now?|I don't have my boarding pass, what now?
negation|F|banking|Can I open an account with a foreign passport?|Can I open an account without a passport?
negation|T|insurance|Why is my claim not approved?|Why hasn't my claim been approved?
negation|T|saas|Why are my emails not being delivered?|Why aren't my emails getting delivered?
negation|T|travel|I don't have my boarding pass, what now?|I do not have my boarding pass, what should I do now?
negation|T|banking|Can I open an account without a passport?|Is it possible to open an account without a passport?
quantity|F|saas|Can I upload a file larger than 100 MB?|Can I upload a file larger than 100 GB?
quantity|F|travel|Is there a fee for a layover of 3 hours?|Is there a fee for a layover of 3 days?
quantity|F|banking|What is the interest on a 3-year loan?|What is the interest on a 30-year loan?
quantity|F|ecommerce|Do you ship packages over 20 pounds?|Do you ship packages over 20 kilograms?
quantity|T|saas|Can I upload a file larger than 100 MB?|Is uploading a file over 100 MB possible?
quantity|T|travel|Is there a fee for a layover of 3 hours?|Do I pay a fee for a three-hour layover?
quantity|T|banking|What is the interest on a 3-year loan?|How much interest does a 3-year loan charge?
quantity|T|ecommerce|Do you ship packages over 20 pounds?|Can you ship a package heavier than 20 pounds?
date|F|hr|Is the office closed on Good Friday?|Is the office closed on Boxing Day?
date|F|banking|Will my rent payment go out on the 1st?|Will my rent payment go out on the 15th?
date|F|travel|Can I check out at 11 am?|Can I check out at 1 pm?
date|F|saas|Did the outage last night affect my data?|Will the maintenance tonight affect my data?
date|T|hr|Is the office closed on Good Friday?|Does the office close on Good Friday?
date|T|banking|Will my rent payment go out on the 1st?|Is my rent payment taken on the 1st?
date|T|travel|Can I check out at 11 am?|Is an 11 am check-out possible?
date|T|saas|Did the outage last night affect my data?|Was my data affected by last night's outage?
entity|F|travel|Does my ticket include lounge access at Heathrow?|Does my ticket include lounge access at Gatwick?
entity|F|it|How do I set up Gmail on Outlook?|How do I set up Yahoo Mail on Outlook?
entity|F|banking|Can I pay my Visa bill from this account?|Can I pay my Amex bill from this account?
entity|F|saas|Is the Enterprise plan billed annually?|Is the Starter plan billed annually?
entity|T|travel|Does my ticket include lounge access at Heathrow?|Is Heathrow lounge access included with my ticket?
entity|T|it|How do I set up Gmail on Outlook?|How can I add my Gmail account to Outlook?
entity|T|banking|Can I pay my Visa bill from this account?|Is it possible to pay my Visa bill from this account?
entity|T|saas|Is the Enterprise plan billed annually?|Does the Enterprise plan have annual billing?
person|F|insurance|Is my son covered for dental?|Am I covered for dental?
person|F|hr|How do I request parental leave?|How does my manager request parental leave?
person|F|banking|Can I add my sister as an authorised user?|Can my sister add me as an authorised user?
person|F|ecommerce|Can I track my order?|Can I track my friend's order?
person|T|insurance|Is my son covered for dental?|Does my son have dental coverage?
person|T|hr|How do I request parental leave?|How can I apply for parental leave?
person|T|banking|Can I add my sister as an authorised user?|How do I make my sister an authorised user?
person|T|ecommerce|Can I track my friend's order?|Is there a way to track my friend's order?
comparative|F|banking|Which account has the lowest monthly fee?|Which account has the highest monthly fee?
comparative|F|travel|What is the shortest layover allowed?|What is the longest layover allowed?
comparative|F|ecommerce|Show me the newest arrivals first|Show me the oldest arrivals first
comparative|F|saas|What is the smallest team size for the Business plan?|What is the largest team size for the Business plan?
comparative|T|banking|Which account has the lowest monthly fee?|Which account charges the lowest monthly fee?
comparative|T|travel|What is the shortest layover allowed?|What's the minimum layover allowed?
comparative|T|ecommerce|Show me the newest arrivals first|Sort by newest arrivals first
comparative|T|saas|What is the smallest team size for the Business plan?|What is the minimum team size for the Business plan?
"""

out = Path(__file__).with_name("holdout.jsonl")
with out.open("w", encoding="utf-8") as f:
    for line in ROWS.strip().splitlines():
        kind, same, dom, s, r = line.split("|")
        rec = {
            "kind": kind,
            "domain": dom,
            "stored": s,
            "request": r,
            "same_answer": same == "T",
            "half": "check",
        }
        f.write(json.dumps(rec) + "\n")
print(len(ROWS.strip().splitlines()), "pairs ->", out)
