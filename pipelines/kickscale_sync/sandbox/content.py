"""Vocabulary for the synthetic workspace: names, companies, sales talk."""

from __future__ import annotations

FIRST_NAMES = (
    "Anna", "Lukas", "Sophie", "Maximilian", "Lena", "David", "Julia", "Felix", "Laura", "Paul",
    "Sarah", "Jonas", "Hannah", "Elias", "Marie", "Tobias", "Emma", "Florian", "Clara", "Simon",
    "Olivia", "Noah", "Mia", "Liam", "Amelia", "James", "Chloe", "Ethan", "Priya", "Mateo",
)  # fmt: skip
LAST_NAMES = (
    "Gruber", "Huber", "Wagner", "Müller", "Pichler", "Steiner", "Moser", "Mayer", "Hofer",
    "Leitner", "Berger", "Fuchs", "Schmid", "Winkler", "Weber", "Smith", "Johnson", "Brown",
    "Garcia", "Martin", "Rossi", "Novak", "Kowalski", "Dubois", "Jensen", "Silva", "Patel",
)  # fmt: skip

# Companies whose people the workspace talks to; the weights give a long tail.
COMPANY_DOMAINS = (
    "acme-industries.com", "globex.io", "initech.com", "umbrella-health.de", "hooli.com",
    "stark-logistics.at", "wayne-capital.com", "wonka-foods.ch", "cyberdyne.ai", "soylent.eu",
    "tyrell-systems.com", "aperture-labs.io", "vandelay-import.com", "pied-piper.io",
    "massive-dynamic.com", "gringotts-bank.co.uk", "oceanic-air.com", "dunder-paper.com",
    "nakatomi-trading.jp", "blue-sun.io", "monarch-solutions.de", "virtucon.com",
    "prestige-worldwide.com", "sterling-cooper.com", "bluth-homes.com", "krusty-brands.com",
    "los-pollos.mx", "gekko-partners.com", "duff-beverages.at", "kramerica.com",
    "oscorp-research.com", "lacuna-health.ch", "wolfram-hart.law", "spacely-sprockets.com",
    "cogswell-cogs.com", "rekall-travel.com", "omni-consumer.com", "yoyodyne.net",
    "zorg-industries.fr", "buy-n-large.com",
)  # fmt: skip
FREE_MAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "gmx.at", "hotmail.com")

MEETING_TYPES = (
    ("mt-discovery", "Discovery"),
    ("mt-demo", "Product Demo"),
    ("mt-negotiation", "Negotiation"),
    ("mt-onboarding", "Onboarding"),
    ("mt-qbr", "Quarterly Business Review"),
)
INTERNAL_MEETING_TYPES = (("mt-internal", "Internal Sync"), ("mt-coaching", "Coaching Session"))
CALL_TYPES = (
    ("ct-cold", "Cold Call"),
    ("ct-followup", "Follow-up Call"),
    ("ct-support", "Support"),
)

OUTCOMES = ("next_meeting", "proposal_sent", "won", "lost", "no_decision", None)
FEEDBACK_CRITERIA = (
    "Opening",
    "Needs analysis",
    "Value proposition",
    "Objection handling",
    "Next steps",
)
INSIGHT_CATEGORIES = ("pain_point", "budget", "timeline", "competitor", "decision_maker", "risk")
CRM_SYSTEMS = ("hubspot", "salesforce", "pipedrive")
CRM_TYPES = ("deal", "company", "contact")
ENTITY_TYPES = ("product", "competitor", "project")
ENTITY_NAMES = ("Kickscale Pro", "Analytics Add-on", "Gong", "Chorus", "Pilot 2026", "Rollout EMEA")
DIALERS = ("aircall", "ringcentral", "genesys", "hubspot_calling")
MEETING_SOURCES = ("zoom", "teams", "meet")
LANGUAGES = ("en", "en", "en", "de", "de", "fr")

TOPICS = (
    "pricing", "the rollout plan", "onboarding", "the security review", "integrations",
    "the pilot", "renewal terms", "reporting", "user adoption", "the budget for next year",
    "the CRM sync", "data residency", "the procurement process", "training sessions",
)  # fmt: skip

SENTENCE_TEMPLATES = (
    "Thanks for taking the time today, I know your calendar is busy.",
    "Could you walk me through how your team handles {t} right now?",
    "We looked at {t} last quarter and it did not really work for us.",
    "That makes sense, and it is something we hear a lot from teams your size.",
    "What would need to be true for this to be a priority in the next three months?",
    "Honestly the biggest problem is that nobody owns {t} end to end.",
    "Let me share my screen and show you how that looks in practice.",
    "Who else would need to be involved before you could make a decision on {t}?",
    "I will send over a short summary and the proposal by the end of the week.",
    "Our current tool is fine for calls but it falls apart when it comes to {t}.",
    "How many people on your side would be using it day to day?",
    "We have a hard deadline at the end of the quarter, so timing matters.",
    "Can you tell me a bit more about what you mean by that?",
    "I think the main concern from finance will be {t}.",
    "Good question, let me check with our product team and come back to you.",
    "So if I understand you correctly, the priority is {t} and then adoption.",
    "We tried something similar two years ago and the rollout took far too long.",
    "That is really helpful context, thank you for being so open about it.",
    "Would it make sense to schedule a follow-up with your IT lead next week?",
    "From our side the next step would be a short pilot with one team.",
)

SUMMARY_TEMPLATES = (
    "The customer described their current process around {t} and its main gaps.",
    "We discussed {t} in detail and agreed on a pilot scope.",
    "Budget and timing for {t} were the main open questions.",
    "The champion will involve procurement and IT before the next call.",
)
ACTION_TEMPLATES = (
    "Send the proposal covering {t}",
    "Schedule a follow-up about {t}",
    "Share the security documentation",
    "Introduce the customer to a reference account",
    "Prepare a pilot plan for {t}",
)
QUESTION_TEMPLATES = (
    "How does the integration with our CRM work?",
    "What does {t} cost for fifty users?",
    "How long does a typical rollout take?",
    "Where is our data stored?",
    "Can we try {t} with one team first?",
)
COMMENT_TEMPLATES = (
    "Great discovery, strong next steps.",
    "Follow up on {t} before Friday.",
    "Customer sounded hesitant about {t}.",
    "Manager review: good questioning technique.",
    "Loop in the solutions engineer for {t}.",
)
