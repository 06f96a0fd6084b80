from trtconvert.cli.entry import main

main()
