"""The mock provincial server: a stateful stand-in for the province, for tests and demos.

province.py  MockProvince: sessions, business state and rules (no I/O)
seed.py      synthetic users, institutions and insured persons
books.py     the state: sessions, visits, stays; lookups (JSON snapshot for persistence)
outpatient.py, inpatient.py, queries.py   the business rules, one handler per function
money.py     settlement arithmetic (mock rule), fee-row checks, settlement sheet, fee list
answers.py   request view and registry-shaped answers;  refusal.py  Refusal (negative return_code)
faults.py    faults on demand (latency, HTTP 500, malformed body, -9, fail N times, commit-then-drop)
app.py       the ASGI app: the real XML wire at the spec's path, admin endpoints, a JSON view
server.py    run it with uvicorn (CLI `gdwi mock serve`, or in a thread for tests)
"""
