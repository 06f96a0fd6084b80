from trtconvert.cli.main import main

main()
