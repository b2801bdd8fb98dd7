from pipeline.cli.entry import console

console()
