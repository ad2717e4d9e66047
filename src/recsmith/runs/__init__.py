"""Run directories and what can be asked of one.

* :mod:`.layout`: the one layout of a run (``recsmith benchmark`` and ``recsmith train`` write it;
  export, recommend, report and the app read it): :class:`~recsmith.runs.layout.Run`;
* :mod:`.recommend`: recommendations, similar items, text and image search with external ids in and
  out, from a run (``recsmith recommend --run``);
* :mod:`.search`: the content indexes of a run's items (text / image embeddings, cached in the run).
"""
