"""Tables, engine and sessions of catalog-sync."""

from models.base import Base
from models.db import get_engine, make_engine, session_factory, transaction
from models.feedback import FeedbackReport
from models.lifecycle import DiscoveryPage, WatchSource, WatchState
from models.rate_budget import RateBudget
from models.tables import (
    CatalogFileError,
    CatalogItem,
    CatalogItemChange,
    ChangeKind,
    DeliveryStatus,
    ItemType,
    Repository,
    RunOutcome,
    SyncRun,
    Team,
    User,
    UserTeamLink,
    WebhookDelivery,
)
from models.types import utcnow

__all__ = [
    "Base",
    "CatalogFileError",
    "CatalogItem",
    "CatalogItemChange",
    "ChangeKind",
    "DeliveryStatus",
    "DiscoveryPage",
    "FeedbackReport",
    "ItemType",
    "RateBudget",
    "Repository",
    "RunOutcome",
    "SyncRun",
    "Team",
    "User",
    "UserTeamLink",
    "WatchSource",
    "WatchState",
    "WebhookDelivery",
    "get_engine",
    "make_engine",
    "session_factory",
    "transaction",
    "utcnow",
]
