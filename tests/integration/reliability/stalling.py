"""Recommender factory for ``test_stall``: the real recommender, in a worker whose Faust consumer never
resumes the events partitions (the stall of issue #10 as hypothesised: recovery paused them and
nothing resumed them). Loaded in the worker process through FRESHREC_WORKER_RECOMMENDER."""

from __future__ import annotations


def from_settings(settings):
    import faust.transport.consumer as consumer

    resume = consumer.Consumer.resume_partitions

    def resume_all_but_events(self, tps):
        return resume(self, [tp for tp in tps if tp.topic != settings.topic_events])

    consumer.Consumer.resume_partitions = resume_all_but_events
    from models.recommender import from_settings as real

    return real(settings=settings)
