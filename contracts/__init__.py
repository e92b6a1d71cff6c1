"""The contracts between Freshrec's stages, in one package that every stage imports and that imports none.

``ids`` (what an id may be), ``events`` (the event and catalog schema on Kafka), ``packs`` (many events in
one Kafka record, and the partitioner they must agree on), ``redis_keys`` (the Redis key schema and the
recommendation list body), ``artifacts`` (the deep model's artifact store layout) and ``datasets`` (the
session files of ``../shared/data`` that replay and evaluation both read).
"""
