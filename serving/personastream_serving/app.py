"""The personalization API (ASGI, FastAPI; OpenAPI at ``/openapi.json``, docs at ``/docs``),
the storefront demo it serves, and the ops dashboard (``/ops``, charts of Prometheus' queries of
:mod:`~personastream_serving.ops_panels`).

Recommendations rank the catalogue with :class:`personastream_models.recommend.RankIndex` (the
same answers as :func:`~personastream_models.recommend.rank`, vectorised) from the customer's
live profile (updated by the ``live_activity`` job within a second of each event), the items
co-viewed with their recent items, trend boosts from the trends job and popularity; unknown or
anonymous customers get trending and popular items. Every answer says which ranking version,
trends detector version and profile produced it. The storefront sends its views and clicks to
NiFi's ingest endpoint, the pipeline's real front door.

The request path stays on the event loop: the per-request reads (the live profile and a
known user's marketing consent, each from the worker's in-memory copy or else awaited from
Cassandra with the driver's ``execute_async``; without consent, the anonymous ranking), what all
requests share (popularity, item co-views, trends) re-read every ``api_cache_s`` by a
background task, and answers serialized once with orjson (the response models still describe
them in the OpenAPI schema). Every request is counted and timed for Prometheus
(:mod:`~personastream_serving.metrics`, ``GET /metrics``).

Once started (the store open, the first shared read done), a worker moves every object it holds
then, ~185,000 of them (modules, the app, the catalogue, the driver), out of the cyclic garbage
collector's reach (``gc.freeze()``): they live as long as the worker, and a full collection,
during which every request waits, walked them all (73 ms on this machine; after it, with the
live profiles held as bytes (:mod:`~personastream_serving.profile_replica`), 2 ms with 100,000
customers cached).

Start it with ``personastream serve``.
"""

import asyncio
import collections
import contextlib
import gc
import hmac
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Callable
from urllib.parse import parse_qsl

import orjson
import requests
from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from pydantic import BaseModel

from personastream_contracts import declared_jobs
from personastream_contracts.identity import ANONYMOUS_PREFIX
from personastream_contracts.identity import user_key as identity
from personastream_models import specs
from personastream_models.experiments import load_all as published_experiments
from personastream_models.recommend import RANKING_VERSION, Item, Ranked, RankIndex, SharedParts
from personastream_serving.catalogue import catalogue as sample_catalogue
from personastream_serving.catalogue import display_name
from personastream_serving.experiment_variants import Assigner
from personastream_serving.experiment_variants import inputs as variant_inputs
from personastream_serving.metrics import RequestMetrics, exposition, time_collections
from personastream_serving.offers import boosts as offer_boosts
from personastream_serving.offers import public as public_offer
from personastream_serving.ops_panels import dashboard
from personastream_serving.profile_replica import TombstoneError
from personastream_serving.store import LIVE_PROFILE_VERSION, CassandraStore, Store, Trend

log = logging.getLogger(__name__)

STATIC = resources.files(__package__).joinpath("static")
MAX_K = 100
#: Provenance ``reason`` of a customer not personalized: no marketing consent.
NO_CONSENT = "no_marketing_consent"
K = Annotated[int, Query(ge=1, le=MAX_K, description="how many items")]


class ItemOut(BaseModel):
    item_id: str
    name: str
    category: str
    brand: str
    price: float
    score: float | None = None
    parts: dict[str, float] | None = None


class Provenance(BaseModel):
    ranking_version: str
    trends_detector_version: str | None
    profile: str  # "live" (live profile), "windowed" (daily_batch variant) or "none" (anonymous)
    profile_updated_at: str | None = None
    profile_events: int | None = None  # events folded into the live profile used
    profile_version: int | None = None  # layout version of the live profile used
    #: present only when the customer's own choice is why the answer is not personalized:
    #: "no_marketing_consent" (the operational database says the customer gave none)
    reason: str | None = None


class ItemsOut(BaseModel):
    items: list[ItemOut]
    provenance: Provenance


class ExperimentOut(BaseModel):
    """The experiment the answer was given under and the customer's variant of it."""

    name: str
    version: str
    variant: str
    ranking: str  # "live", "daily_batch" or "popularity"


class OfferOut(BaseModel):
    """An active offer of a promotion (``evaluate_promotions``): its action (banner, discount
    or ranking boost, values as text) and why the rule fired, one line per check."""

    offer_id: str
    promotion: str
    promotion_version: str
    priority: int
    action: dict[str, str]
    item_id: str | None
    why: list[str]
    issued_at: str
    expires_at: str


class OffersOut(BaseModel):
    user_key: str
    offers: list[OfferOut]


class Recommendations(ItemsOut):
    user_key: str | None
    #: the customer's active offers (null if none): their ranking boosts are applied to the
    #: items (score part ``promotion``); banners and discounts are for the page to show
    offers: list[OfferOut] | None = None
    #: the running recommendations experiment and the customer's (sticky) variant; null for an
    #: anonymous request, a customer without marketing consent or no experiment running
    experiment: ExperimentOut | None = None


class ProfileOut(BaseModel):
    user_key: str
    live: dict | None
    windowed: dict | None


class HealthOut(BaseModel):
    status: str  # "ok" or "degraded"
    problems: list[str]


class Erased(BaseModel):
    user_key: str
    tables_with_rows: list[str]
    remaining: list[str]


@dataclass(frozen=True)
class Shared:
    """What every request reads, from one read of item activity and trends: the ranking's
    shared parts (with trend boosts for recommendations, without for similar items), every
    item's co-viewed neighbours, the trending order and the detector version most trend rows
    carry (before the trends job wrote any, the version it starts with: a row's model_version
    is the live version, also while its stand-in scores the item)."""

    with_trend: SharedParts
    popular_only: SharedParts
    neighbours: dict[str, dict[str, float]]
    trending: list[Trend]
    detector_version: str | None


def shared_reads(index: RankIndex, popularity: dict[str, float],
                 neighbours: dict[str, dict[str, float]], trends: dict[str, Trend],
                 detector_default: str | None = None) -> Shared:
    """:class:`Shared` of one read of the store's item activity and trends; with no trend rows,
    the detector version is ``detector_default``."""
    boosts = {i: (1.0 if t.flagged else t.score) for i, t in trends.items()
              if i in index.position}
    versions = collections.Counter(t.model_version for t in trends.values() if t.model_version)
    trending = sorted((t for t in trends.values() if t.item_id in index.position),
                      key=lambda t: (not t.flagged, -t.score, -t.views, t.item_id))
    return Shared(index.shared(popularity, boosts), index.shared(popularity), neighbours,
                  trending, versions.most_common(1)[0][0] if versions else detector_default)


def starting_detector(settings) -> str | None:
    """The trends detector version the trends job starts with (``trends_detector_version``,
    empty: the latest spec); None if the settings name no published spec."""
    try:
        spec = specs.load(settings.trends_detector, settings.trends_detector_version or None)
        return spec.version
    except specs.SpecError as error:
        log.warning("trends detector of the settings not found (%s); provenance names none "
                    "until trend rows exist", error)
        return None


def json_response(content) -> Response:
    """``content`` serialized once (orjson), not validated again against a response model."""
    return Response(orjson.dumps(content), media_type="application/json")


#: The spellings of a flag taken on the fast path (others go to FastAPI, which knows more).
_FLAGS = {"true": True, "false": False, "1": True, "0": False}


def recommendation_params(query_string: bytes) -> dict | None:
    """The arguments of ``/v1/recommendations`` in ``query_string`` when FastAPI would accept
    them as they are (parsed as Starlette does), else None: a repeated parameter, a value it
    would refuse or convert (the caller then leaves the request to FastAPI).

    >>> recommendation_params(b"user=u%201&k=5&exclude_purchased=false&other=x")
    {'k': 5, 'user': 'u 1', 'exclude_purchased': False}
    >>> [recommendation_params(q) for q in (b"k=0", b"k=05", b"k=101", b"user=", b"k=1&k=2")]
    [None, None, None, None, None]
    """
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    given = dict(pairs)
    if len(given) != len(pairs):
        return None
    params: dict = {}
    if "k" in given:
        k = given["k"]
        if not (k.isascii() and k.isdigit() and k[0] != "0" and int(k) <= MAX_K):
            return None
        params["k"] = int(k)
    for name, min_length in (("user", 1), ("anonymous_id", 1), ("context_item", 0),
                             ("category", 0)):
        if name in given:
            if len(given[name]) < min_length:
                return None
            params[name] = given[name]
    if "exclude_purchased" in given:
        if given["exclude_purchased"] not in _FLAGS:
            return None
        params["exclude_purchased"] = _FLAGS[given["exclude_purchased"]]
    return params


class FastRecommendations:
    """ASGI middleware: a well-formed ``GET /v1/recommendations`` goes straight to its
    ``route``'s handler, skipping FastAPI's per-request parameter resolution (about 45 % of the
    API's own CPU per request under cProfile), and records the route in the scope as FastAPI's
    router does (the request's metrics read it). Anything else, and any request whose handler
    raises an :class:`HTTPException`, is FastAPI's: its errors, answers and OpenAPI schema are
    unchanged (a unit test compares both paths)."""

    PATH = "/v1/recommendations"

    def __init__(self, app, route: APIRoute):
        self.app, self.route, self.handler = app, route, route.endpoint

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] == self.PATH and scope["method"] == "GET":
            params = recommendation_params(scope["query_string"])
            if params is not None:
                try:
                    response = await self.handler(**params)
                except HTTPException:  # FastAPI answers it (the handler raises it again)
                    return await self.app(scope, receive, send)
                scope["route"] = self.route
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def create_app(settings, open_store: Callable[[], Store] | None = None,
               assigner: Assigner | None = None) -> FastAPI:
    """The API bound to ``settings``; its store is opened at startup by ``open_store``
    (default: :class:`~personastream_serving.store.CassandraStore` of the settings); customers
    are assigned to experiment variants by ``assigner`` (default: the published experiments,
    each running between its start and end)."""
    products = sample_catalogue(settings.storefront_items)
    items = {p.item_id: p for p in products}
    index = RankIndex({p.item_id: Item(p.item_id, p.category, p.brand) for p in products})
    categories = {p.item_id: p.category for p in products}
    brands = {p.item_id: p.brand for p in products}
    described = {p.item_id: {"item_id": p.item_id, "name": display_name(p),
                              "category": p.category, "brand": p.brand, "price": p.price}
                 for p in products}
    state: dict = {}
    open_store = open_store or (lambda: CassandraStore(settings))
    detector_default = starting_detector(settings)
    assigner = assigner or Assigner(published_experiments())

    async def read_shared(db: Store) -> Shared:
        (popularity, neighbours), trends = await asyncio.gather(
            asyncio.to_thread(db.item_activity), asyncio.to_thread(db.trends))
        state["shared_at"] = time.monotonic()
        return shared_reads(index, popularity, neighbours, trends, detector_default)

    def flink_json(path: str) -> dict:
        resp = requests.get(f"{settings.flink_rest_url.rstrip('/')}{path}", timeout=2)
        resp.raise_for_status()
        return resp.json()

    async def keep_shared_fresh(db: Store) -> None:
        while True:
            await asyncio.sleep(settings.api_cache_s)
            try:
                state["shared"] = await read_shared(db)
            except Exception as error:  # any driver error: answer from the previous read
                log.warning("re-reading item activity and trends failed (%s: %s); answers use "
                            "the previous read until a re-read succeeds (every %ss)",
                            type(error).__name__, error, settings.api_cache_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db = state["store"] = open_store()
        state["shared"] = await read_shared(db)
        time_collections()
        gc.freeze()  # what the worker holds from its start on (module docstring)
        refresher = asyncio.create_task(keep_shared_fresh(db))
        yield
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher
        state.pop("store").close()

    app = FastAPI(title="personastream personalization API", version=RANKING_VERSION,
                  lifespan=lifespan,
                  description="Recommendations from live customer profiles, item co-views and "
                              "trend spikes, computed by the streaming pipeline.")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
                    for e in error.errors()]
        return JSONResponse(status_code=400, content={"error": "bad parameters",
                                                      "detail": problems})

    def store() -> Store:
        return state["store"]

    def out(ranked: list[Ranked]) -> list[dict]:
        return [{**described[r.item_id], "score": round(r.score, 4), "parts": r.parts}
                for r in ranked]

    def provenance(profile_source: str = "none", updated=None, version=None,
                   events=None, reason: str | None = None) -> dict:
        """As :class:`Provenance` serializes (``reason`` only when there is one)."""
        out = {"ranking_version": RANKING_VERSION,
               "trends_detector_version": state["shared"].detector_version,
               "profile": profile_source,
               "profile_updated_at": updated.isoformat() + "Z" if updated else None,
               "profile_events": events, "profile_version": version}
        if reason is not None:
            out["reason"] = reason
        return out

    def known_item(item_id: str) -> str:
        if item_id not in items:
            raise HTTPException(404, f"no item {item_id!r} in the catalogue "
                                     f"(item-0 .. item-{len(items) - 1})")
        return item_id

    @app.get("/v1/health", response_model=HealthOut, tags=["ops"])
    async def health():
        """``ok``, or ``degraded`` with the reasons: live profiles not followed from their topic
        (each read from Cassandra), item activity and trends not re-read from Cassandra for
        three refresh intervals, a declared Flink job not running or failing
        repeatedly (``declared_jobs``, the local declarations), Flink not answering. Always 200:
        the API still answers, from what it read last."""
        problems = state["store"].problems()
        age = time.monotonic() - state["shared_at"]
        if age > 3 * settings.api_cache_s:
            problems.append(f"item activity and trends last read from Cassandra {age:.0f}s ago "
                            f"(every {settings.api_cache_s}s expected)")
        try:
            problems += await asyncio.to_thread(declared_jobs.check, settings, flink_json)
        except requests.RequestException as error:
            problems.append(f"Flink at {settings.flink_rest_url} did not answer: {error}")
        return json_response({"status": "degraded" if problems else "ok", "problems": problems})

    @app.get("/v1/recommendations", response_model=Recommendations, tags=["recommendations"])
    async def recommendations(
            k: K = 10,
            user: Annotated[str | None, Query(min_length=1, description="user id")] = None,
            anonymous_id: Annotated[str | None, Query(min_length=1)] = None,
            context_item: Annotated[str | None, Query(description="item on screen")] = None,
            category: Annotated[str | None, Query(description="only this category")] = None,
            exclude_purchased: bool = True):
        """The ``k`` best items for a customer (by user id or anonymous id; neither: anonymous
        ranking), optionally in one category and near the item on screen. A customer whose
        account says no marketing consent gets the anonymous ranking, and its provenance says
        why (``reason``)."""
        db = state["store"]
        key = identity(user, anonymous_id)
        if context_item is not None:
            known_item(context_item)
        # an account may have given no marketing consent (in memory, as the live profile)
        if key and not key.startswith(ANONYMOUS_PREFIX) \
                and await db.marketing_consent(key) is False:
            profile, updated, reason = None, None, NO_CONSENT
        else:
            profile, updated = await db.live_profile(key) if key else (None, None)
            reason = None
        shared = state["shared"]
        # the customer's variant of the running experiment (none without consent)
        assignment = assigner.assign(key) if reason is None else None
        ranking = assignment.ranking if assignment else "live"
        chosen = variant_inputs(
            ranking, live=profile, windowed=await asyncio.to_thread(db.profile, key)
            if ranking == "daily_batch" else None, with_trend=shared.with_trend,
            popular_only=shared.popular_only, neighbours=shared.neighbours)
        # the customer's active offers, in memory (no read); their boosts re-rank every item
        offers = db.offers_in_memory(key) if key and reason is None else []
        boosted = offer_boosts(offers, categories, brands) if offers else {}
        ranked = index.rank(chosen.parts, profile=chosen.profile, neighbours=chosen.neighbours,
                            k=len(items) if boosted else k, context_item=context_item,
                            category=category,
                            exclude=set(profile.purchased) if profile and exclude_purchased
                            else set())
        if boosted:
            ranked = sorted((Ranked(r.item_id, r.score + boosted[r.item_id][0],
                                    {**r.parts, "promotion": boosted[r.item_id][0]})
                             if r.item_id in boosted else r for r in ranked),
                            key=lambda r: -r.score)[:k]
        live_used = chosen.profile_source == "live"
        return json_response({
            "offers": [public_offer(o) for o in offers] if offers else None,
            "items": out(ranked),
            "provenance": provenance(chosen.profile_source, updated if live_used else None,
                                     LIVE_PROFILE_VERSION if live_used else None,
                                     chosen.profile.n_events if chosen.profile else None,
                                     reason),
            "user_key": key,
            "experiment": assignment.as_json() if assignment else None})

    app.add_middleware(FastRecommendations, route=next(
        r for r in app.routes if getattr(r, "endpoint", None) is recommendations))

    @app.get("/v1/items/{item_id}/similar", response_model=ItemsOut, tags=["items"])
    async def similar(item_id: Annotated[str, Path()], k: K = 10):
        """Items most often viewed together with ``item_id``, then popular ones."""
        known_item(item_id)
        shared = state["shared"]
        ranked = index.rank(shared.popular_only, neighbours=shared.neighbours,
                            context_item=item_id, k=k)
        return json_response({"items": out(ranked), "provenance": provenance()})

    @app.get("/v1/trending", response_model=ItemsOut, tags=["items"])
    async def trending(k: K = 10):
        """Items whose views spike (flagged by the trends detector) first, then by score."""
        return json_response({
            "items": [{**described[t.item_id], "score": round(t.score, 4),
                       "parts": {"views": float(t.views), "flagged": float(t.flagged)}}
                      for t in state["shared"].trending[:k]],
            "provenance": provenance()})

    @app.get("/v1/users/{user_key}/offers", response_model=OffersOut, tags=["users"])
    async def user_offers(user_key: Annotated[str, Path(min_length=1)]):
        """The customer's active offers of promotions (not expired), highest priority first,
        each with its action and why its rule fired."""
        found = await state["store"].offers(user_key)
        return json_response({"user_key": user_key, "offers": [public_offer(o) for o in found]})

    @app.get("/v1/users/{user_key}/profile", response_model=ProfileOut, tags=["users"])
    async def profile(user_key: Annotated[str, Path(min_length=1)]):
        """What the pipeline knows about a customer: live and windowed profiles."""
        db = state["store"]
        (live, updated), windowed = await asyncio.gather(
            db.live_profile(user_key), asyncio.to_thread(db.profile, user_key))
        if live is None and windowed is None:
            raise HTTPException(404, f"no profile for {user_key!r}")
        return ProfileOut(user_key=user_key, windowed=windowed,
                          live=None if live is None else {**live.__dict__,
                                                          "updated_at": updated})

    def authorized(authorization: Annotated[str | None, Header()] = None) -> None:
        if not settings.api_token:
            raise HTTPException(503, "write endpoints are disabled: set the api_token setting "
                                     "(PERSONASTREAM_API_TOKEN)")
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), settings.api_token.encode()):
            raise HTTPException(401, "missing or wrong bearer token (Authorization: Bearer …)",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.delete("/v1/users/{user_key}", response_model=Erased, tags=["users"],
                dependencies=[Depends(authorized)])
    def erase(user_key: Annotated[str, Path(min_length=1)], db: Annotated[Store, Depends(store)]):
        """Delete everything stored about a customer (privacy request): live and windowed
        profiles, segment, and their events in ``events_by_user``."""
        try:
            held = db.erase(user_key)
        except TombstoneError as error:
            raise HTTPException(503, str(error)) from None
        return Erased(user_key=user_key, tables_with_rows=[t for t, h in held.items() if h],
                      remaining=db.holds(user_key))

    @app.get("/v1/catalogue", response_model=ItemsOut, tags=["items"])
    async def catalogue(category: Annotated[str | None, Query()] = None):
        """The storefront's catalogue (seeded sample), optionally one category."""
        return json_response({
            "items": [{**described[i], "score": None, "parts": None} for i, item in items.items()
                      if category is None or item.category == category],
            "provenance": provenance()})

    @app.get("/storefront/config.json", include_in_schema=False)
    def storefront_config():
        return {"ingest_url": settings.nifi_ingest_url, "schema_version": "1-0-0"}

    @app.get("/", include_in_schema=False)
    def home():
        return FileResponse(str(STATIC.joinpath("index.html")))

    @app.get("/items/{item_id}", include_in_schema=False)
    def product_page(item_id: str):
        known_item(item_id)
        return FileResponse(str(STATIC.joinpath("product.html")))

    @app.get("/ops", include_in_schema=False)
    def ops_page():
        return FileResponse(str(STATIC.joinpath("ops.html")))

    @app.get("/ops/config.json", include_in_schema=False)
    def ops_config():
        """Where the page asks Prometheus, and what (its panels)."""
        return dashboard(settings.prometheus_url)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics():
        """The metrics of :mod:`personastream_serving.metrics` (Prometheus' text format)."""
        return Response(exposition(), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.add_middleware(RequestMetrics, routes=app.routes)  # outermost: the fast path's too
    return app
