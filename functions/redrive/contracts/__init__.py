"""The workflow's contracts: every state payload and every S3 artefact, as pydantic models.

Everything read from S3, from the state or from a DLQ body is parsed into one of these at
the boundary; nothing downstream indexes a raw dict. ``vocab`` holds the enums,
``paths`` every S3 key.
"""
