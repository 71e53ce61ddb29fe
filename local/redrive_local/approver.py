"""Acting as the operator: read the approval email, open its link, submit the page's form.

``--approve auto`` and ``--approve reject`` go through exactly what a person does (GET the
page from the email's link, POST its form), so a rehearsal tests the real path. Emails
are read from the operators' SNS topic, where moto keeps what was published (email
subscriptions deliver nowhere locally).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin

from .engine import ACCOUNT, REGION

LINK = re.compile(r"https?://\S+/decision\?id=\S+")


@dataclass
class Email:
    subject: str
    body: str

    @property
    def link(self) -> str | None:
        found = LINK.search(self.body)
        return found.group(0) if found else None


def topic_emails(topic_arn: str) -> list[Email]:
    from moto.sns.models import sns_backends

    topic = sns_backends[ACCOUNT][REGION].topics[topic_arn]
    return [Email(subject=subject or "", body=message) for _, message, subject, _, _ in topic.sent_notifications]


@dataclass
class PageResponse:
    status: int
    html: str


def fetch(url: str, form: dict[str, str] | None = None) -> PageResponse:
    data = urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if form is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return PageResponse(response.status, response.read().decode())
    except urllib.error.HTTPError as error:
        return PageResponse(error.code, error.read().decode())


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action", "")
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a.get("name", "")] = a.get("value", "")
        elif tag == "button" and a.get("name") == "decision":
            self.buttons[a.get("id", "")] = a.get("value", "")


def decide_through_page(link: str, decision: str, name: str, comment: str) -> tuple[PageResponse, PageResponse]:
    """GET the page, then POST its form as a person clicking Approve or Reject would."""
    page = fetch(link)
    form = _Form()
    form.feed(page.html)
    if page.status != 200 or decision not in form.buttons:
        return page, page
    fields = {**form.fields, "name": name, "comment": comment, "decision": form.buttons[decision]}
    return page, fetch(urljoin(link, form.action), fields)


def describe(email: Email) -> str:
    return f"Subject: {email.subject}\n\n{email.body}"
