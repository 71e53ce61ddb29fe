from typing import Any
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    import os
    return {"dlqUrl": os.environ["DLQ_URL"], "input": event}
