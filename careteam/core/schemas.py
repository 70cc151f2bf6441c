"""Base input and output shapes every feature's schemas build on, and the field types they share."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]

T = TypeVar("T")


class Input(BaseModel):
    """Every request body: unknown fields are refused, and no string may hold a NUL character (PostgreSQL
    text cannot store one, and no clinician types one)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(Public, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

LongText = Annotated[str, StringConstraints(max_length=4000)]

UserId = Annotated[int, Field(gt=0, lt=2**31)]
