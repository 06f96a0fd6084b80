from trtconvert.cli import main

main()
