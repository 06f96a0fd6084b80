"""Fleet builds: many models on many GPU kinds from one manifest, run as Dask tasks, results in one store.

Layer: above `deploy` (the Triton export of the manifest's `triton:`), the TensorRT layer (`trtconvert.engine`,
for the content key and the GPUs of a machine) and the layers below them; imported only by the commands (`trtconvert.cli`). Each build runs as its own
`python -m trtconvert build` process on a worker, so nothing here imports TensorRT. Needs the `fleet` extra
(dask, distributed, fsspec); the rest of the package never imports this layer.
"""
