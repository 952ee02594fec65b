"""What the pipeline takes from a captured change of the operational database: per table, the
columns it types and their rules (:data:`CUSTOMERS`, :data:`ORDERS`), and the Flink SQL that
types and checks a change (the ``merge_customers`` job reads each Debezium envelope with its
row images as maps of text, ``before`` and ``after``, and its ``source`` likewise).

A change that breaks a rule (a value outside the contract, or of another type after an
``ALTER COLUMN ... TYPE``) is dead-lettered with reason ``invalid_change``, naming the column
and the rule, and the job goes on; the columns the contract does not type are not checked,
and a column added to the table while the job runs reaches the profile in its account record
(``crm_record``) with the next change of each row, with no restart.

The checks are SQL, generated here, so the job needs no Python for a valid change; each
failed check yields ``field<US>rule<US>message`` and a change's failures are joined by
``<RS>`` (ASCII unit and record separators), which :func:`violations` reads back.

>>> [c.name for c in CUSTOMERS.columns][:3], CUSTOMERS.key
(['tier', 'birth_year', 'gender'], 'account_id')
>>> print(typed_sql(CUSTOMERS.column("birth_year")))
TRY_CAST(`after`['birth_year'] AS INT)
>>> violations(f"/after/tier{US}enum{US}'diamond' is not one of ...")
[{'code': 'invalid_change', 'rule': 'enum', 'field': '/after/tier', 'message': \
"customers change: 'diamond' is not one of ..."}]
"""
from __future__ import annotations

from dataclasses import dataclass

from personastream_contracts import deadletters

#: The reason code of a change that breaks its table's contract.
INVALID_CHANGE = "invalid_change"
#: The separators of :func:`violations_sql`'s text: between a failure's parts, between failures.
US, RS = "\x1f", "\x1e"
#: Debezium's operations: snapshot read, create, update, delete.
UPSERTS = ("r", "c", "u")
OPS = (*UPSERTS, "d")
KINDS = {"text": None, "integer": "INT", "decimal": "DOUBLE", "boolean": "BOOLEAN",
         "timestamp": "TIMESTAMP(3)"}
_ARTICLE = {"integer": "an integer", "decimal": "a number", "boolean": "a boolean",
            "timestamp": "an ISO-8601 UTC timestamp"}


@dataclass(frozen=True)
class Column:
    """A column of a captured table that the pipeline types (into its ``target`` column):
    ``kind`` one of :data:`KINDS`, and its rules."""

    name: str
    target: str
    kind: str = "text"
    required: bool = False
    allowed: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None  # a Java regular expression the whole text matches

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name}: kind {self.kind!r} is not one of "
                             f"{', '.join(KINDS)}")


@dataclass(frozen=True)
class Capture:
    """A captured table: its primary ``key`` column (a delete's ``before`` carries only it),
    the ``user`` column that names the customer a row belongs to (the pipeline's user key),
    and the :class:`Column` s it types."""

    table: str
    key: str
    user: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def user_sql(self, image: str = "after") -> str:
        """The text of the ``user`` column in the change's ``after`` or ``before``."""
        return value_sql(image, self.user)

    def columns_sql(self) -> str:
        """The typed columns as a select list, ``<typed> AS <target>``, in order.

        >>> print(ORDERS.columns_sql().splitlines()[0])
        `after`['order_id'] AS order_id,
        """
        return ",\n    ".join(f"{typed_sql(c)} AS {c.target}" for c in self.columns)


CUSTOMERS = Capture("customers", "account_id", "account_id", (
    Column("tier", "crm_tier", allowed=("standard", "silver", "gold", "platinum")),
    Column("birth_year", "crm_birth_year", "integer", minimum=1900, maximum=2100),
    Column("gender", "crm_gender", allowed=("female", "male", "other")),
    Column("country", "crm_country", pattern="[A-Z]{2}"),
    Column("marketing_consent", "marketing_consent", "boolean", required=True),
    Column("consent_updated_at", "consent_updated_at", "timestamp"),
    Column("updated_at", "crm_updated_at", "timestamp"),
))
ORDERS = Capture("orders", "order_id", "account_id", (
    Column("order_id", "order_id"),
    Column("status", "status", allowed=("placed", "paid", "shipped", "delivered", "cancelled",
                                        "returned")),
    Column("n_items", "n_items", "integer", minimum=1),
    Column("total", "total", "decimal", minimum=0),
    Column("currency", "currency", pattern="[A-Z]{3}"),
    Column("placed_at", "placed_at", "timestamp"),
    Column("updated_at", "updated_at", "timestamp"),
))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def value_sql(image: str, name: str) -> str:
    """The text of field ``name`` of the change's map ``image`` (``after``, ``before`` or
    ``source``; a number or boolean as its JSON text)."""
    return f"`{image}`[{_literal(name)}]"


def text_sql(column: Column) -> str:
    return value_sql("after", column.name)


def typed_sql(column: Column) -> str:
    """The column's value of its kind, null if absent or not of that kind."""
    text = text_sql(column)
    if column.kind == "timestamp":  # Debezium: 2026-01-01T00:00:00.000000Z
        text = f"REPLACE(REPLACE({text}, 'T', ' '), 'Z', '')"
    return f"TRY_CAST({text} AS {KINDS[column.kind]})" if KINDS[column.kind] else text


def _failure(field: str, rule: str, message_sql: str) -> str:
    return f"CONCAT({_literal(field + US + rule + US)}, {message_sql})"


def _quoted(text_sql_: str, says: str) -> str:
    return f"CONCAT('''', {text_sql_}, {_literal(chr(39) + ' ' + says)})"


def _checks(column: Column) -> list[tuple[str, str]]:
    """``(condition, failure)`` SQL of each rule of ``column``."""
    text, typed, field = text_sql(column), typed_sql(column), f"/after/{column.name}"
    checks = []
    if column.required:
        checks.append((f"NULLIF({text}, '') IS NULL", _failure(field, "required", _literal(
            f"{column.name} is required"))))
    if KINDS[column.kind]:
        checks.append((f"{text} IS NOT NULL AND {typed} IS NULL", _failure(
            field, "type", _quoted(text, f"is not {_ARTICLE[column.kind]}"))))
    if column.allowed:
        values = ", ".join(map(_literal, column.allowed))
        checks.append((f"{text} NOT IN ({values})", _failure(
            field, "enum", _quoted(text, f"is not one of {', '.join(column.allowed)}"))))
    if column.pattern:
        checks.append((f"NOT REGEXP({text}, {_literal('^' + column.pattern + '$')})", _failure(
            field, "pattern", _quoted(text, f"does not match {column.pattern}"))))
    for rule, bound, op in (("minimum", column.minimum, "<"), ("maximum", column.maximum, ">")):
        if bound is not None:
            checks.append((f"{typed} {op} {bound:g}", _failure(
                field, rule, _quoted(text, f"is {'below' if op == '<' else 'above'} "
                                           f"the {rule} {bound:g}"))))
    return checks


def violations_sql(capture: Capture) -> str:
    """The failures of a change (``''``: none): no or an unknown op, no key or commit time,
    and, for an upsert, each rule of each typed column that it breaks."""
    key = f"COALESCE({value_sql('after', capture.key)}, {value_sql('before', capture.key)})"
    upsert = f"`op` IN ({', '.join(map(_literal, UPSERTS))})"
    checks = [
        ("`op` IS NULL", _failure("/op", "required", _literal("op is required"))),
        (f"`op` NOT IN ({', '.join(map(_literal, OPS))})", _failure(
            "/op", "enum", _quoted("`op`", f"is not one of {', '.join(OPS)}"))),
        (f"NULLIF({key}, '') IS NULL", _failure(f"/after/{capture.key}", "required", _literal(
            f"{capture.key} (the key) is required"))),
        (f"TRY_CAST({value_sql('source', 'ts_us')} AS BIGINT) IS NULL", _failure(
            "/source/ts_us", "required", _literal("the commit time source.ts_us is required")))]
    if capture.user != capture.key:
        checks.append((f"{upsert} AND NULLIF({capture.user_sql()}, '') IS NULL", _failure(
            f"/after/{capture.user}", "required", _literal(
                f"{capture.user} (the customer) is required"))))
    checks += [(f"{upsert} AND {condition}", failure)
               for column in capture.columns for condition, failure in _checks(column)]
    return f"CONCAT_WS({_literal(RS)}, " + ", ".join(
        f"CASE WHEN {condition} THEN {failure} END" for condition, failure in checks) + ")"


def violations(text: str, table: str = "customers") -> list[dict]:
    """The dead-letter errors (:func:`personastream_contracts.deadletters.error`) of a change
    of ``table`` from :func:`violations_sql`'s text."""
    errors = []
    for failure in filter(None, text.split(RS)):
        field, rule, message = failure.split(US, 2)
        errors.append(deadletters.error(INVALID_CHANGE, f"{table} change: {message}", field,
                                        rule))
    return errors
