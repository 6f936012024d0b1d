import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Relation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RELATION_UNSPECIFIED: _ClassVar[Relation]
    EXACT: _ClassVar[Relation]
    NEAR_DUPLICATE: _ClassVar[Relation]
    SYNDICATED: _ClassVar[Relation]
    VERSION: _ClassVar[Relation]
    REWRITE: _ClassVar[Relation]

class ClusterLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COPY: _ClassVar[ClusterLevel]
    STORY: _ClassVar[ClusterLevel]
RELATION_UNSPECIFIED: Relation
EXACT: Relation
NEAR_DUPLICATE: Relation
SYNDICATED: Relation
VERSION: Relation
REWRITE: Relation
COPY: ClusterLevel
STORY: ClusterLevel

class Article(_message.Message):
    __slots__ = ("id", "text", "html", "title", "source", "published_at", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    html: str
    title: str
    source: str
    published_at: _timestamp_pb2.Timestamp
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ..., html: _Optional[str] = ..., title: _Optional[str] = ..., source: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SharedPassage(_message.Message):
    __slots__ = ("start", "end", "other_start", "other_end", "words", "text")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    OTHER_START_FIELD_NUMBER: _ClassVar[int]
    OTHER_END_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    start: int
    end: int
    other_start: int
    other_end: int
    words: int
    text: str
    def __init__(self, start: _Optional[int] = ..., end: _Optional[int] = ..., other_start: _Optional[int] = ..., other_end: _Optional[int] = ..., words: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("id", "relation", "similarity", "jaccard", "containment", "other_containment", "own_words", "story", "shared_words", "passages")
    ID_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    JACCARD_FIELD_NUMBER: _ClassVar[int]
    CONTAINMENT_FIELD_NUMBER: _ClassVar[int]
    OTHER_CONTAINMENT_FIELD_NUMBER: _ClassVar[int]
    OWN_WORDS_FIELD_NUMBER: _ClassVar[int]
    STORY_FIELD_NUMBER: _ClassVar[int]
    SHARED_WORDS_FIELD_NUMBER: _ClassVar[int]
    PASSAGES_FIELD_NUMBER: _ClassVar[int]
    id: str
    relation: Relation
    similarity: float
    jaccard: float
    containment: float
    other_containment: float
    own_words: float
    story: float
    shared_words: int
    passages: _containers.RepeatedCompositeFieldContainer[SharedPassage]
    def __init__(self, id: _Optional[str] = ..., relation: _Optional[_Union[Relation, str]] = ..., similarity: _Optional[float] = ..., jaccard: _Optional[float] = ..., containment: _Optional[float] = ..., other_containment: _Optional[float] = ..., own_words: _Optional[float] = ..., story: _Optional[float] = ..., shared_words: _Optional[int] = ..., passages: _Optional[_Iterable[_Union[SharedPassage, _Mapping]]] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("id", "added", "cluster", "cluster_size", "story", "story_size", "canonical", "story_canonical", "relation", "similarity", "matches")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_SIZE_FIELD_NUMBER: _ClassVar[int]
    STORY_FIELD_NUMBER: _ClassVar[int]
    STORY_SIZE_FIELD_NUMBER: _ClassVar[int]
    CANONICAL_FIELD_NUMBER: _ClassVar[int]
    STORY_CANONICAL_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    id: str
    added: bool
    cluster: str
    cluster_size: int
    story: str
    story_size: int
    canonical: str
    story_canonical: str
    relation: Relation
    similarity: float
    matches: _containers.RepeatedCompositeFieldContainer[Match]
    def __init__(self, id: _Optional[str] = ..., added: _Optional[bool] = ..., cluster: _Optional[str] = ..., cluster_size: _Optional[int] = ..., story: _Optional[str] = ..., story_size: _Optional[int] = ..., canonical: _Optional[str] = ..., story_canonical: _Optional[str] = ..., relation: _Optional[_Union[Relation, str]] = ..., similarity: _Optional[float] = ..., matches: _Optional[_Iterable[_Union[Match, _Mapping]]] = ...) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ("article", "max_passages")
    ARTICLE_FIELD_NUMBER: _ClassVar[int]
    MAX_PASSAGES_FIELD_NUMBER: _ClassVar[int]
    article: Article
    max_passages: int
    def __init__(self, article: _Optional[_Union[Article, _Mapping]] = ..., max_passages: _Optional[int] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: Result
    def __init__(self, result: _Optional[_Union[Result, _Mapping]] = ...) -> None: ...

class AddRequest(_message.Message):
    __slots__ = ("article", "replace", "max_passages")
    ARTICLE_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    MAX_PASSAGES_FIELD_NUMBER: _ClassVar[int]
    article: Article
    replace: bool
    max_passages: int
    def __init__(self, article: _Optional[_Union[Article, _Mapping]] = ..., replace: _Optional[bool] = ..., max_passages: _Optional[int] = ...) -> None: ...

class AddResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: Result
    def __init__(self, result: _Optional[_Union[Result, _Mapping]] = ...) -> None: ...

class AddStreamResponse(_message.Message):
    __slots__ = ("id", "result", "error_code", "error_message")
    ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    result: Result
    error_code: int
    error_message: str
    def __init__(self, id: _Optional[str] = ..., result: _Optional[_Union[Result, _Mapping]] = ..., error_code: _Optional[int] = ..., error_message: _Optional[str] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("result", "article")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ARTICLE_FIELD_NUMBER: _ClassVar[int]
    result: Result
    article: Article
    def __init__(self, result: _Optional[_Union[Result, _Mapping]] = ..., article: _Optional[_Union[Article, _Mapping]] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetClusterRequest(_message.Message):
    __slots__ = ("id", "level")
    ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    id: str
    level: ClusterLevel
    def __init__(self, id: _Optional[str] = ..., level: _Optional[_Union[ClusterLevel, str]] = ...) -> None: ...

class ClusterMember(_message.Message):
    __slots__ = ("id", "source", "published_at", "relation", "similarity")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: str
    published_at: _timestamp_pb2.Timestamp
    relation: Relation
    similarity: float
    def __init__(self, id: _Optional[str] = ..., source: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., relation: _Optional[_Union[Relation, str]] = ..., similarity: _Optional[float] = ...) -> None: ...

class GetClusterResponse(_message.Message):
    __slots__ = ("cluster", "canonical", "members")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    CANONICAL_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    cluster: str
    canonical: str
    members: _containers.RepeatedCompositeFieldContainer[ClusterMember]
    def __init__(self, cluster: _Optional[str] = ..., canonical: _Optional[str] = ..., members: _Optional[_Iterable[_Union[ClusterMember, _Mapping]]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("articles", "copy_clusters", "story_clusters", "matches", "index_bytes", "store", "config_json")
    ARTICLES_FIELD_NUMBER: _ClassVar[int]
    COPY_CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    STORY_CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    INDEX_BYTES_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    articles: int
    copy_clusters: int
    story_clusters: int
    matches: int
    index_bytes: int
    store: str
    config_json: str
    def __init__(self, articles: _Optional[int] = ..., copy_clusters: _Optional[int] = ..., story_clusters: _Optional[int] = ..., matches: _Optional[int] = ..., index_bytes: _Optional[int] = ..., store: _Optional[str] = ..., config_json: _Optional[str] = ...) -> None: ...
