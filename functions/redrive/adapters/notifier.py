"""The operators' SNS topic as the core's Notifier port."""

from __future__ import annotations

from typing import Any


class SnsNotifier:
    def __init__(self, sns: Any, topic_arn: str) -> None:
        self.sns = sns
        self.topic_arn = topic_arn

    def publish(self, subject: str, body: str) -> None:
        self.sns.publish(TopicArn=self.topic_arn, Subject=subject, Message=body)

    def confirmed_subscribers(self) -> int:
        """ListSubscriptionsByTopic gives an unconfirmed subscription the SubscriptionArn
        ``PendingConfirmation`` (``Deleted`` once removed); a confirmed one has its ARN."""
        confirmed = 0
        for page in self.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=self.topic_arn):
            confirmed += sum(1 for s in page["Subscriptions"] if str(s.get("SubscriptionArn", "")).startswith("arn:"))
        return confirmed
