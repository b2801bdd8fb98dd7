from pipeline.cli.main import console

console()
