"""Writes the bundled chat-SFT corpus: Q&A about the internal handbook of a fictional company.

Kestrel Analytics, its people, numbers, addresses and tools are invented for this workbench (the phone
numbers use the UK range reserved for drama, 020 7946 0xxx; e-mail domains are ``.example``). The text
is our own work, licensed like the workbench (Apache-2.0).

Every fact has one ``howto`` row (a task-style question with a full-sentence answer) and three ``qa``
rows (differently phrased questions with the same short, exact answer), so a held-out ``qa`` question
asks about a fact that training rows state in other words.

Run as::

    python scripts/build_handbook_corpus.py     # rewrites workbench/resources/handbook/handbook_qa.jsonl
"""

import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "workbench" / "resources" / "handbook" / "handbook_qa.jsonl"

# (topic, short answer, [howto question, full answer], [three qa questions])
FACTS = [
    ("it", "4357", ["How do I get help from IT?", "Call the IT helpdesk on extension 4357, or open a ticket in ServiceDesk."],
     ["What is the IT helpdesk extension?", "Which extension do I dial for IT support?", "IT helpdesk phone extension?"]),
    ("it", "help@kestrel.example", ["How can I contact IT by e-mail?", "Write to help@kestrel.example; every e-mail opens a ServiceDesk ticket."],
     ["What is the IT support email address?", "Where do I email IT problems?", "Which address reaches the helpdesk by email?"]),
    ("it", "14 characters", ["What makes a valid password here?", "Passwords must be at least 14 characters long; a passphrase of four or more words is recommended."],
     ["What is the minimum password length?", "How long must my password be at least?", "Minimum number of characters in a password?"]),
    ("it", "every 365 days", ["Do I have to change my password regularly?", "Yes, the system asks you to change your password every 365 days, or at once if it may be compromised."],
     ["How often must passwords be changed?", "When does my password expire?", "Password rotation period?"]),
    ("it", "WireGuard", ["How do I work on the internal network from home?", "Install the WireGuard client from the Software Catalog and import your profile from the IT portal."],
     ["Which VPN client does Kestrel use?", "What VPN software should I install?", "Name of the VPN client?"]),
    ("it", "Kestrel-Guest", ["How do visitors get Wi-Fi?", "Visitors join the Kestrel-Guest network; reception prints a daily access code."],
     ["What is the guest Wi-Fi network called?", "Which Wi-Fi should visitors connect to?", "Name of the guest wireless network?"]),
    ("it", "Duo Mobile", ["How do I set up two-factor sign-in?", "Install Duo Mobile on your phone and enrol it at the IT portal; every sign-in then needs an approval."],
     ["Which app is used for multi-factor authentication?", "What MFA app do we use?", "Which authenticator app must I install?"]),
    ("it", "every 4 years", ["When will I get a new laptop?", "Laptops are replaced every 4 years, or earlier if IT finds a hardware fault."],
     ["How often are laptops refreshed?", "What is the laptop replacement cycle?", "After how long is a laptop replaced?"]),
    ("it", "5 attempts", ["Why is my account locked?", "Accounts lock after 5 attempts with a wrong password; the lock lifts after 15 minutes or when the helpdesk resets it."],
     ["How many failed logins lock an account?", "After how many wrong passwords am I locked out?", "Failed sign-in limit before lockout?"]),
    ("it", "Software Catalog", ["How do I install new software?", "Request it in the Software Catalog; approved titles install themselves within an hour."],
     ["Where do I request software?", "Which portal is used for software requests?", "What is the name of the software request portal?"]),
    ("it", "2:00 am", ["Are laptop files backed up?", "Yes, laptops back up the Documents folder every night at 2:00 am when connected to power."],
     ["What time do nightly laptop backups run?", "When does the laptop backup start?", "At what hour are backups taken?"]),
    ("it", "Mattermost", ["What should I use for quick messages to colleagues?", "Use Mattermost for chat; keep e-mail for external and formal messages."],
     ["What is the internal chat tool?", "Which messaging app do teams use?", "Name of our chat platform?"]),
    ("it", "floor 3", ["Where can I print?", "The main print room is on floor 3; release jobs with your badge at any printer."],
     ["Which floor is the print room on?", "Where is the print room?", "On what floor are the printers?"]),
    ("hr", "28 days", ["How much holiday do I get?", "Full-time staff get 28 days of annual leave per year, plus public holidays."],
     ["How many days of annual leave do employees get?", "What is the annual leave allowance?", "Number of holiday days per year?"]),
    ("hr", "5 days", ["Can I carry holiday into next year?", "You may carry over up to 5 days of unused leave; they must be taken by 31 March."],
     ["How many leave days can be carried over?", "Maximum unused holiday carried into the next year?", "Carry-over limit for annual leave?"]),
    ("hr", "9:30 am", ["What do I do if I am ill?", "Tell your manager by 9:30 am on the first day of absence and record it in PeopleHub."],
     ["By what time must I report sick?", "What is the deadline to call in sick?", "Latest time to notify a sick day?"]),
    ("hr", "26 weeks", ["What parental leave does Kestrel offer?", "Every new parent gets 26 weeks of parental leave on full pay, whatever their gender."],
     ["How long is paid parental leave?", "How many weeks of parental leave are there?", "Length of parental leave on full pay?"]),
    ("hr", "6 months", ["How does probation work?", "New starters have a probation period of 6 months, with reviews at month 3 and month 6."],
     ["How long is the probation period?", "What is the length of probation for new hires?", "Probation duration?"]),
    ("hr", "one month", ["How much notice do I need to give if I resign?", "After probation the notice period is one month, given in writing to your manager."],
     ["What is the notice period after probation?", "How long is the resignation notice?", "Notice period length?"]),
    ("hr", "the 25th", ["When is salary paid?", "Salaries are paid on the 25th of each month, or the working day before if it falls on a weekend."],
     ["On which day of the month is payday?", "What date do we get paid?", "Which day is salary paid?"]),
    ("hr", "6%", ["How does the pension scheme work?", "Kestrel matches your pension contributions up to 6% of salary."],
     ["What is the employer pension match?", "How much does Kestrel match in pension contributions?", "Pension matching percentage?"]),
    ("hr", "PeopleHub", ["Where do I book leave or update my details?", "Use PeopleHub, the HR system, for leave, payslips and personal details."],
     ["What is the HR system called?", "Which system do I use to book holiday?", "Name of the HR portal?"]),
    ("hr", "€1,200", ["Can the company pay for courses?", "Each employee has a learning budget of €1,200 per year, approved by their manager."],
     ["What is the yearly learning budget?", "How much training budget do I have per year?", "Annual learning allowance?"]),
    ("hr", "3 days a week", ["What is the hybrid working policy?", "You may work remotely up to 3 days a week; teams agree their office days."],
     ["How many days a week can I work from home?", "What is the remote working limit?", "Maximum remote days per week?"]),
    ("hr", "10:00 to 15:00", ["Do we have flexible hours?", "Yes; be available during core hours, 10:00 to 15:00, and plan the rest with your team."],
     ["What are the core working hours?", "Which hours must everyone be available?", "Core hours?"]),
    ("hr", "2 days", ["Are there wellbeing days?", "Everyone gets 2 days of wellbeing leave per year on top of annual leave."],
     ["How many wellbeing days do we get?", "Number of wellbeing leave days per year?", "How much wellbeing leave is there?"]),
    ("hr", "Priya Nair", ["Who leads HR?", "Priya Nair is the Head of People; contact her team through PeopleHub."],
     ["Who is the Head of People?", "Who runs the HR department?", "Name of the head of HR?"]),
    ("travel", "TripDesk", ["How do I book a business trip?", "Book flights, trains and hotels in TripDesk after your trip is approved."],
     ["What is the travel booking tool?", "Where do I book business travel?", "Which tool books flights and hotels?"]),
    ("travel", "6 hours", ["Can I fly business class?", "Economy class is required for flights under 6 hours; longer flights may be premium economy."],
     ["Flights shorter than how many hours must be economy?", "Below what flight length is economy mandatory?", "Economy-only flight duration limit?"]),
    ("travel", "£180", ["How much can I spend on a hotel in London?", "The hotel cap in London is £180 per night, including breakfast."],
     ["What is the London hotel limit per night?", "How much can a London hotel cost per night?", "Nightly hotel cap in London?"]),
    ("travel", "€45", ["What can I claim for meals when travelling?", "The meal allowance is €45 per day on business trips; alcohol is not reimbursed."],
     ["What is the daily meal allowance?", "How much can I spend on food per travel day?", "Per diem for meals?"]),
    ("travel", "30 days", ["When do I need to submit expenses?", "Submit expense claims within 30 days of the expense, with receipts attached."],
     ["What is the deadline for expense claims?", "Within how many days must expenses be submitted?", "Expense submission deadline?"]),
    ("travel", "€0.30 per km", ["Can I claim for using my own car?", "Yes, business mileage in your own car is reimbursed at €0.30 per km."],
     ["What is the mileage rate?", "How much is paid per kilometre driven?", "Car mileage reimbursement rate?"]),
    ("travel", "your director", ["Who approves trips abroad?", "International travel must be approved by your director before booking."],
     ["Who must approve international travel?", "Whose approval is needed to travel abroad?", "Approver for foreign trips?"]),
    ("travel", "020 7946 0123", ["What do I do in an emergency while travelling?", "Call the GlobalCare travel assistance line on 020 7946 0123, day or night."],
     ["What is the travel emergency number?", "Which number do I call in a travel emergency?", "Travel assistance phone number?"]),
    ("travel", "standard class", ["Which train tickets may I buy?", "Book standard class rail tickets; first class needs director approval."],
     ["Which class of train ticket is allowed?", "What rail class should I book?", "Allowed train class?"]),
    ("travel", "after 21:00", ["When can I take a taxi instead of public transport?", "Taxis are reimbursed after 21:00, or when carrying heavy equipment."],
     ["From what time are taxis reimbursed?", "When are taxis allowed?", "Taxi reimbursement starts at what time?"]),
    ("security", "Report Phish button", ["What should I do with a suspicious e-mail?", "Do not click anything; use the Report Phish button in Outlook, which sends it to the security team."],
     ["How do I report a phishing email?", "What do I press to report phishing?", "Which button reports a suspicious email?"]),
    ("security", "security@kestrel.example", ["How do I contact the security team?", "E-mail security@kestrel.example, or call extension 7000 if it is urgent."],
     ["What is the security team email?", "Where do I send security concerns?", "Email address of the security team?"]),
    ("security", "extension 7000", ["What if I think my laptop has been hacked?", "Disconnect from the network and call the security incident line, extension 7000, straight away."],
     ["What is the security incident hotline?", "Which number do I call for a security incident?", "Incident hotline extension?"]),
    ("security", "4 levels", ["How is company data classified?", "Data has 4 levels: Public, Internal, Confidential and Restricted."],
     ["How many data classification levels are there?", "Number of data classification levels?", "How many levels does the data classification have?"]),
    ("security", "Restricted", ["How should I treat customer health data?", "Customer health data is Restricted, the highest level: encrypted, need-to-know access only."],
     ["What is the highest data classification level?", "Which is the most sensitive classification?", "Top data classification level?"]),
    ("security", "not allowed", ["Can I copy files to a USB stick?", "USB storage devices are not allowed; share files through the company drive instead."],
     ["Are USB drives allowed?", "May I use a USB memory stick?", "Is USB storage permitted?"]),
    ("security", "5 minutes", ["When does my screen lock?", "Screens lock automatically after 5 minutes of inactivity; lock it yourself when you leave."],
     ["After how long does the screen lock automatically?", "What is the screen lock timeout?", "Idle time before auto-lock?"]),
    ("security", "within 24 hours", ["What if I lose my badge?", "Report a lost badge to reception within 24 hours so it can be disabled."],
     ["How soon must a lost badge be reported?", "When do I report a lost access badge?", "Deadline for reporting a lost badge?"]),
    ("security", "at all times", ["Can visitors walk around the office alone?", "No, visitors must be escorted at all times and wear a visitor badge."],
     ["When must visitors be escorted?", "How long do visitors need an escort?", "Visitor escort requirement?"]),
    ("security", "BitLocker", ["Is my laptop disk encrypted?", "Yes, all laptops use BitLocker full-disk encryption, enabled by IT."],
     ["Which disk encryption do laptops use?", "What encryption tool protects laptops?", "Name of the laptop encryption software?"]),
    ("security", "every 12 months", ["Do I have to do security training?", "Everyone completes the security awareness course every 12 months in the learning portal."],
     ["How often is security training required?", "How frequently must I redo security awareness training?", "Security training frequency?"]),
    ("office", "07:00 to 20:00", ["When is the office open?", "The office is open 07:00 to 20:00 on weekdays; weekend access needs approval."],
     ["What are the office opening hours?", "When can I get into the office?", "Office hours?"]),
    ("office", "12 Harbour Street, Leeds", ["Where is the head office?", "Head office is at 12 Harbour Street, Leeds, next to the river."],
     ["What is the head office address?", "Where is Kestrel's headquarters?", "HQ address?"]),
    ("office", "14:30", ["When can I get lunch in the canteen?", "The canteen serves lunch from 11:30 and closes at 14:30."],
     ["What time does the canteen close?", "When does the canteen stop serving?", "Canteen closing time?"]),
    ("office", "the Facilities desk", ["How do I get a parking space?", "Apply for a parking permit at the Facilities desk on floor 2."],
     ["Where do I get a parking permit?", "Who issues parking permits?", "Parking permit office?"]),
    ("office", "Tom Reyes", ["Who is the fire warden on my floor?", "The lead fire warden is Tom Reyes; floor wardens wear yellow vests."],
     ["Who is the lead fire warden?", "Name of the lead fire warden?", "Who leads fire evacuation?"]),
    ("finance", "€5,000", ["What can I spend on a corporate card?", "Corporate cards have a monthly limit of €5,000; higher spend needs a purchase order."],
     ["What is the corporate card limit?", "How much can I spend on the company card per month?", "Monthly credit card limit?"]),
    ("finance", "€500", ["When do I need a purchase order?", "Any purchase above €500 needs a purchase order approved in Spendly."],
     ["Above what amount is a purchase order required?", "Purchase order threshold?", "From what value do I need a PO?"]),
    ("finance", "Spendly", ["How do I claim expenses?", "Claim expenses in Spendly with a photo of each receipt."],
     ["What is the expense system called?", "Which tool do I use for expense claims?", "Name of the expenses app?"]),
    ("finance", "1 April", ["When does the financial year start?", "Kestrel's financial year runs from 1 April to 31 March."],
     ["When does the fiscal year begin?", "What is the first day of the financial year?", "Start of the fiscal year?"]),
    ("company", "Maria Okafor", ["Who runs the company?", "Maria Okafor is Kestrel's chief executive and hosts the monthly all-hands."],
     ["Who is the CEO?", "Who is Kestrel's chief executive?", "Name of the CEO?"]),
    ("company", "2009", ["How old is Kestrel Analytics?", "Kestrel Analytics was founded in 2009 in Leeds."],
     ["When was Kestrel founded?", "In what year was the company founded?", "Founding year of Kestrel?"]),
    ("company", "the first Monday of each month", ["When are company all-hands meetings?", "All-hands meetings are on the first Monday of each month at 16:00."],
     ["When is the all-hands meeting?", "How often is the company all-hands?", "All-hands schedule?"]),
    ("company", "on your last day", ["What happens to my laptop when I leave?", "Return your laptop and badge to IT on your last day."],
     ["When must I return my laptop when leaving?", "When are company devices returned at the end of employment?", "Laptop return deadline for leavers?"]),
]


def rows():
    """Yields the JSONL records: id, topic, kind (howto/qa), instruction, response."""
    for n, (topic, short, (howto_q, howto_a), questions) in enumerate(FACTS, 1):
        assert short.lower() in howto_a.lower(), (short, howto_a)
        yield {"id": f"{topic}-{n:03d}-h", "topic": topic, "kind": "howto", "instruction": howto_q, "response": howto_a}
        for j, q in enumerate(questions, 1):
            yield {"id": f"{topic}-{n:03d}-q{j}", "topic": topic, "kind": "qa", "instruction": q, "response": short}


if __name__ == "__main__":
    records = list(rows())
    with open(OUT, "w") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} rows ({len(FACTS)} facts) to {OUT}")
