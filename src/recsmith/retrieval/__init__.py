"""Retrieval: approximate nearest-neighbour indexes (FAISS) and exportable query encoders.

* :mod:`recsmith.retrieval.ann` -- :class:`~recsmith.retrieval.ann.AnnIndex`, a FAISS index described
  by a factory string, persisted with ``faiss.write_index`` plus a JSON metadata file.
* :mod:`recsmith.retrieval.query_encoder` -- a torch user / query encoder over item factors and its
  ONNX export (ONNX Runtime, optional dynamic int8 quantisation).

Nothing heavy is imported here: FAISS, torch and ONNX Runtime load when those modules are used.
"""
